"""When a service's image is resolved to a digest on the leader (manager/imagepin.py's rule)."""

from __future__ import annotations

import asyncio

from manager.imagepin import ImagePinner, needs_lookup
from svc import reference

DIGEST = "sha256:" + "cd" * 32


def test_a_pinned_image_is_never_looked_up() -> None:
    assert not needs_lookup(f"127.0.0.1:5000/web:1@{DIGEST}", [])


def test_an_image_the_cluster_holds_is_not_looked_up() -> None:
    assert not needs_lookup("busybox", ["busybox:latest", "sha256:" + "00" * 32])
    assert not needs_lookup("docker.io/library/busybox:latest", ["busybox:latest"])
    assert needs_lookup("busybox:1.36", ["busybox:latest"])
    assert needs_lookup("127.0.0.1:5000/web:1", [])


def test_an_unreachable_registry_is_a_warning_and_the_tag_stays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "registries.json").write_text('{"insecure-registries": ["127.0.0.1:9"]}')
    pinned = asyncio.run(ImagePinner(str(tmp_path), timeout=2).pin("127.0.0.1:9/web:1", []))
    assert pinned.image == "127.0.0.1:9/web:1"
    assert "could not be accessed on a registry" in pinned.warning and "127.0.0.1:9" in pinned.warning


def test_repo_digest_is_what_a_pull_records() -> None:
    assert reference.repo_digest(f"busybox:1@{DIGEST}") == f"busybox@{DIGEST}"
    assert reference.repo_digest(f"127.0.0.1:5000/team/web:1@{DIGEST}") == f"127.0.0.1:5000/team/web@{DIGEST}"
    assert reference.repo_digest("busybox:1") == ""
    reference.check(f"busybox:1@{DIGEST}")
