"""Downloads in progress on this node, per blob digest: one download per digest at a time, and what a
peer asking for a blob this node is still fetching may wait for.

Rule: a pull takes `fetching(root, digest)` around each blob's download (a second pull of the same blob
waits and then finds it stored); it marks the blobs of the image it is pulling `expected` from the moment
it knows them (its manifest) until it ends, and is `resolving` its image (the pinned top digest) from its
start until then. Before that, the agent `announce`s the pinned images its new assignments will pull, as
they arrive: in a rollout the peers named for a task are nodes given the same image a moment before, which
may not have begun their pull when asked. An announcement ends when a pull of it begins (resolving takes
over), or after `PEER_WAIT_SECONDS`, the bound of any wait (a pull that never starts holds no asker longer).
The peer server waits (bounded) only for expected blobs, and, for a blob asked on behalf of image D
(the asker names the image it pulls), while D is announced or resolving here; an ask naming no image waits
while any pull here is announced or resolving (the blob may be among theirs). So a peer that will never
hold a blob answers 404 as soon as no pull here can still come to expect it. Manifests never wait.
A blob being downloaded is `growing`: its scratch file and size, so the peer server can pass its bytes on
as they arrive (cut-through; every asker verifies size and digest itself, as it does any source's).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from svc import defaults

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_expected: dict[str, int] = {}
_resolving: dict[str, int] = {}  # _key(root, image) -> pulls of it there that do not know their blobs yet
_announced: dict[str, float] = {}  # _key(root, image) -> monotonic deadline: a pull an assignment will start


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


def announce(root: str, images: Iterable[str], ttl: float = defaults.PEER_WAIT_SECONDS) -> None:
    """Pulls of `images` (pinned top digests) into the store at `root` that assignments will start soon."""
    deadline = time.monotonic() + ttl
    with _guard:
        for image in images:
            _announced[_key(root, image)] = deadline


def _announced_here(root: str, image: str) -> bool:
    """Whether `image` (or, "", any image) is announced at `root` and not past its deadline; drops the
    expired. Called with `_guard` held."""
    now = time.monotonic()
    for k in [k for k, until in _announced.items() if until <= now]:
        del _announced[k]
    if image:
        return _key(root, image) in _announced
    return any(k.startswith(root + "\0") for k in _announced)


@contextmanager
def resolving(root: str, image: str = "") -> Iterator[Callable[[], None]]:
    """A pull of `image` (its pinned top digest; "" for a pull by tag) at `root` that does not know its
    blobs yet; call the yielded `done` once they are `expected` (or the pull ends: whichever comes first).
    An announcement of `image` ends here: from now on the pull itself says what may come."""
    key = _key(root, image)
    with _guard:
        _resolving[key] = _resolving.get(key, 0) + 1
        _announced.pop(key, None)
    ended = [False]

    def done() -> None:
        with _guard:
            if ended[0]:
                return
            ended[0] = True
            left = _resolving.get(key, 0) - 1
            if left > 0:
                _resolving[key] = left
            else:
                _resolving.pop(key, None)

    try:
        yield done
    finally:
        done()


def _may_come(root: str, digest: str, blob: bool, image: str = "") -> bool:
    """Whether a pull here may yet bring `digest`: it is expected, or (a blob) the image it is asked for
    on behalf of is announced or resolving here (`image` ""; any is)."""
    with _guard:
        if _key(root, digest) in _expected:
            return True
        if not blob:
            return False
        if image:
            return _key(root, image) in _resolving or _announced_here(root, image)
        return any(k.startswith(root + "\0") for k in _resolving) or _announced_here(root, "")


def wait_for(
    root: str,
    digest: str,
    present: Callable[[], bool],
    timeout: float,
    step: float = 0.05,
    blob: bool = True,
    image: str = "",
) -> bool:
    """True once the blob is stored or (a blob, not a manifest) its download has begun to bring bytes; waits while a
    pull here expects it or, for a blob, may yet (announced or resolving: `image` is the pinned top digest the
    asker pulls, "" if it named none), up to `timeout` seconds. Manifests never wait on a pull that may yet
    come: two nodes resolving different images from each other would wait for each other's manifests until
    the timeout (and a manifest is stored only when its pull ends)."""
    deadline = time.monotonic() + timeout
    while True:
        if present() or (blob and _flowing(root, digest)):
            return True
        if not _may_come(root, digest, blob, image) or time.monotonic() >= deadline:
            return present()
        time.sleep(step)
