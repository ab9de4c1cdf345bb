"""Downloads in progress on this node, per blob digest: one download per digest at a time, and what a
peer asking for a blob this node is still fetching may wait for.

Rule: a pull takes `fetching(root, digest)` around each blob's download (a second pull of the same blob
waits and then finds it stored); it marks the blobs of the image it is pulling `expected` from the moment
it knows them (its manifest) until it ends, and is `resolving` from its start until then. The peer server
waits (bounded) only for expected blobs, and for any blob while a pull here is resolving (they may be among:
in a rollout the peers named for a task are nodes that started the same pull a moment before); so a peer
that will never hold a blob answers 404 as soon as no pull here can still come to expect it.
A blob being downloaded is `growing`: its scratch file and size, so the peer server can pass its bytes on
as they arrive (cut-through; every asker verifies size and digest itself, as it does any source's).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_expected: dict[str, int] = {}
_resolving: dict[str, int] = {}  # store root -> pulls there that do not know their blobs yet


@dataclass
class Growing:
    """A blob's download in progress: its scratch file (renamed into place, same inode, when verified)."""

    path: str
    size: int
    ended: threading.Event = field(default_factory=threading.Event)  # set when the download ends, either way


_growing: dict[str, Growing] = {}


def _key(root: str, digest: str) -> str:
    return f"{root}\0{digest}"


@contextmanager
def fetching(root: str, digest: str) -> Iterator[None]:
    """Hold the one download of `digest` into the store at `root`."""
    key = _key(root, digest)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        yield


@contextmanager
def growing(root: str, digest: str, path: str, size: int) -> Iterator[None]:
    """The download of `digest` into the scratch file at `path`, `size` bytes when complete."""
    key, g = _key(root, digest), Growing(path, size)
    with _guard:
        _growing[key] = g
    try:
        yield
    finally:
        with _guard:
            if _growing.get(key) is g:
                del _growing[key]
        g.ended.set()


def in_progress(root: str, digest: str) -> Growing | None:
    with _guard:
        return _growing.get(_key(root, digest))


def _flowing(root: str, digest: str) -> bool:
    """A download in progress that has bytes already. One still at 0 may itself be waiting on the peer
    that asks (two tasks of one image on each of two nodes): passing it on would stall both until their
    read timeouts, so it is waited for like an expected blob instead, and refused at the deadline."""
    g = in_progress(root, digest)
    if g is None:
        return False
    try:
        return os.path.getsize(g.path) > 0
    except OSError:
        return False


@contextmanager
def expected(root: str, digests: list[str]) -> Iterator[None]:
    keys = [_key(root, d) for d in digests]
    with _guard:
        for k in keys:
            _expected[k] = _expected.get(k, 0) + 1
    try:
        yield
    finally:
        with _guard:
            for k in keys:
                left = _expected.get(k, 0) - 1
                if left > 0:
                    _expected[k] = left
                else:
                    _expected.pop(k, None)


def is_expected(root: str, digest: str) -> bool:
    with _guard:
        return _key(root, digest) in _expected


@contextmanager
def resolving(root: str) -> Iterator[Callable[[], None]]:
    """A pull at `root` that does not know its blobs yet; call the yielded `done` once they are `expected`
    (or the pull ends: whichever comes first)."""
    with _guard:
        _resolving[root] = _resolving.get(root, 0) + 1
    ended = [False]

    def done() -> None:
        with _guard:
            if ended[0]:
                return
            ended[0] = True
            left = _resolving.get(root, 0) - 1
            if left > 0:
                _resolving[root] = left
            else:
                _resolving.pop(root, None)

    try:
        yield done
    finally:
        done()


def _may_come(root: str, digest: str, blob: bool) -> bool:
    with _guard:
        return _key(root, digest) in _expected or (blob and root in _resolving)


def wait_for(
    root: str, digest: str, present: Callable[[], bool], timeout: float, step: float = 0.05, blob: bool = True
) -> bool:
    """True once the blob is stored or (a blob, not a manifest) its download has begun to bring bytes; waits while a
    pull here expects it or, for a blob, may yet (resolving), up to `timeout` seconds. Manifests never
    wait on a resolving pull: two nodes resolving different images from each other would wait for each
    other's manifests until the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if present() or (blob and _flowing(root, digest)):
            return True
        if not _may_come(root, digest, blob) or time.monotonic() >= deadline:
            return present()
        time.sleep(step)
