"""The pure image GC rules (node/engine/imagegc.py): prune, the high/low-water plan, shared parts."""

from __future__ import annotations

import pytest

from node.engine.imagegc import DiskUsage, GcImage, bytes_to_free, check_thresholds, plan, prune
from svc.errors import InvalidArgument
from svc.units import human_size

GB = 1_000_000_000


def img(i: str, last: float, *parts: tuple[str, int], dangling: bool = False) -> GcImage:
    return GcImage(id=i, parts=tuple(parts), last_used=last, dangling=dangling)


def test_prune_without_all_takes_only_dangling_images_not_in_use() -> None:
    images = [img("a", 1, dangling=True), img("b", 2), img("c", 0, dangling=True)]
    assert prune(images, set(), all=False) == ["c", "a"]
    assert prune(images, {"c"}, all=False) == ["a"]


def test_prune_all_takes_every_image_no_container_uses() -> None:
    images = [img("a", 3), img("b", 1), img("c", 2, dangling=True)]
    assert prune(images, {"a"}, all=True) == ["b", "c"]


def test_below_the_high_water_mark_nothing_is_freed() -> None:
    disk = DiskUsage(capacity=100 * GB, available=16 * GB)  # 84 % used
    assert bytes_to_free(disk, 85, 80) == 0
    assert plan(disk, [img("a", 0, ("x", GB))], set(), 85, 80, now=1000, min_age=0).remove == ()


def test_at_the_high_water_mark_it_frees_down_to_the_low_one() -> None:
    disk = DiskUsage(capacity=100 * GB, available=15 * GB)  # 85 %
    assert bytes_to_free(disk, 85, 80) == 5 * GB


def test_least_recently_used_first_and_only_as_many_as_needed() -> None:
    disk = DiskUsage(capacity=100 * GB, available=10 * GB)  # 90 %: 10 GB to free
    images = [
        img("new", 50, ("n", 8 * GB)),
        img("old", 10, ("o", 6 * GB)),
        img("mid", 20, ("m", 6 * GB)),
    ]
    p = plan(disk, images, set(), 85, 80, now=1000, min_age=0)
    assert p.remove == ("old", "mid")
    assert (p.to_free, p.frees) == (10 * GB, 12 * GB)


def test_images_in_use_and_young_ones_are_never_chosen() -> None:
    disk = DiskUsage(capacity=100 * GB, available=0)
    images = [img("used", 0, ("u", GB)), img("young", 990, ("y", GB)), img("old", 0, ("o", GB))]
    p = plan(disk, images, {"used"}, 85, 80, now=1000, min_age=120)
    assert p.remove == ("old",)
    assert p.frees == GB


def test_a_part_shared_with_a_kept_image_frees_nothing() -> None:
    disk = DiskUsage(capacity=100 * GB, available=10 * GB)
    base = ("layer:base", 9 * GB)
    images = [img("a", 1, base, ("a-top", GB)), img("b", 2, base, ("b-top", GB)), img("kept", 3, base)]
    p = plan(disk, images, {"kept"}, 85, 80, now=100, min_age=0)
    assert p.remove == ("a", "b")  # both go, yet the shared base stays with the one in use
    assert p.frees == 2 * GB


def test_the_last_image_of_a_shared_part_frees_it() -> None:
    disk = DiskUsage(capacity=100 * GB, available=10 * GB)
    base = ("layer:base", 9 * GB)
    images = [img("a", 1, base, ("a-top", GB)), img("b", 2, base, ("b-top", GB))]
    p = plan(disk, images, set(), 85, 80, now=100, min_age=0)
    assert p.remove == ("a", "b")
    assert p.frees == 11 * GB


def test_a_part_listed_twice_in_one_image_counts_once() -> None:
    disk = DiskUsage(capacity=100 * GB, available=10 * GB)
    images = [img("a", 1, ("sha256:x", GB), ("sha256:x", GB))]
    assert plan(disk, images, set(), 85, 80, now=100, min_age=0).frees == GB


@pytest.mark.parametrize(
    ("high", "low", "message"),
    [
        (80, 85, "must be below the high threshold"),
        (85, 85, "must be below the high threshold"),
        (101, 80, "between 0 and 100"),
        (85, -1, "between 0 and 100"),
    ],
)
def test_bad_thresholds_are_refused(high: float, low: float, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_thresholds(high, low)


def test_thresholds_kubelet_allows() -> None:
    check_thresholds(85, 80)
    check_thresholds(1, 0)


def test_human_size_is_dockers() -> None:
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1_234_567) == "1.235MB"
    assert human_size(4_860_000) == "4.86MB"
