"""Downloads in progress on this node, per blob digest: one download per digest at a time, and what a
peer asking for a blob this node is still fetching may wait for.

Rule: a pull takes `fetching(root, digest)` around each blob's download (a second pull of the same blob
waits and then finds it stored); it marks the blobs of the image it is pulling `expected` from the moment
it knows them until it ends. The peer server waits (bounded) only for expected blobs; so a peer that will
never hold a blob answers 404 at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_expected: dict[str, int] = {}


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


def wait_for(root: str, digest: str, present: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """True once the blob is stored; waits while a pull here expects it, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if present():
            return True
        if not is_expected(root, digest) or time.monotonic() >= deadline:
            return present()
        time.sleep(step)
