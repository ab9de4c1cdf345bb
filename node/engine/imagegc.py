"""Which images garbage collection removes: pure rules, no I/O (the store and the engine supply the facts).

Rule: an image in `in_use` (used by a container in any state, or needed by a task assigned to this node)
is never chosen. `prune` is `docker image prune`: dangling images (no tag, no repo digest), or with
`all` every unused one. `plan` is the kubelet's image GC: when the file system holding the store is at
least `high` percent used, unused images older than `min_age` go, least recently used first, until the
bytes they free bring it down to `low` percent. An image's bytes are its parts (blobs and unpacked
layers); a part shared with an image that stays frees nothing.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass

from svc.errors import InvalidArgument


@dataclass(frozen=True)
class GcImage:
    id: str
    parts: tuple[tuple[str, int], ...]  # (blob digest or layer key, bytes on disk)
    last_used: float  # when a container was last created from it (or when it was added)
    dangling: bool  # no tag and no repo digest: nothing can ask for it by name


@dataclass(frozen=True)
class DiskUsage:
    capacity: int  # bytes of the file system holding the store
    available: int

    @property
    def percent(self) -> float:
        return 100.0 * (self.capacity - self.available) / self.capacity if self.capacity else 0.0


@dataclass(frozen=True)
class Plan:
    remove: tuple[str, ...]  # image ids, in removal order
    to_free: int  # bytes wanted
    frees: int  # bytes the removals free


def check_thresholds(high: float, low: float, min_age: float = 0.0) -> None:
    """Refuse thresholds the kubelet refuses too: 0 <= low < high <= 100."""
    for name, value in (("image GC high threshold", high), ("image GC low threshold", low)):
        if not 0 <= value <= 100:
            raise InvalidArgument(f"{name} {value:g} must be a percent between 0 and 100")
    if low >= high:
        raise InvalidArgument(f"image GC low threshold {low:g} must be below the high threshold {high:g}")
    if min_age < 0:
        raise InvalidArgument(f"image GC minimum age {min_age:g} must not be negative")


def prune(images: Iterable[GcImage], in_use: set[str], all: bool) -> list[str]:
    """`svc image prune [-a]`: the ids to remove, oldest use first."""
    chosen = [i for i in images if i.id not in in_use and (all or i.dangling)]
    return [i.id for i in sorted(chosen, key=lambda i: (i.last_used, i.id))]


def bytes_to_free(disk: DiskUsage, high: float, low: float) -> int:
    """0 below the high-water mark; else what brings usage down to the low one (the kubelet's arithmetic)."""
    if disk.capacity <= 0 or disk.percent < high:
        return 0
    return max(0, int(disk.capacity * (100 - low) / 100) - disk.available)


def plan(
    disk: DiskUsage,
    images: list[GcImage],
    in_use: set[str],
    high: float,
    low: float,
    now: float,
    min_age: float,
) -> Plan:
    want = bytes_to_free(disk, high, low)
    if want <= 0:
        return Plan((), 0, 0)
    refs: collections.Counter[str] = collections.Counter()
    sizes: dict[str, int] = {}
    for image in images:
        for key, size in set(image.parts):
            refs[key] += 1
            sizes[key] = size
    candidates = [i for i in images if i.id not in in_use and now - i.last_used >= min_age]
    chosen: list[str] = []
    freed = 0
    for image in sorted(candidates, key=lambda i: (i.last_used, i.id)):
        if freed >= want:
            break
        chosen.append(image.id)
        for key, _size in set(image.parts):
            refs[key] -= 1
            if refs[key] == 0:
                freed += sizes[key]
    return Plan(tuple(chosen), want, freed)
