"""The lazy file system the power-cut test stands on (tests/lazyfs.py): what a cut keeps and drops."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import mounts_under, poll
from lazyfs import LazyFS, available

pytestmark = pytest.mark.root


@pytest.fixture
def lazy(tmp_path: object) -> Iterator[tuple[LazyFS, str]]:
    why = available()
    if why:
        pytest.skip(f"lazy file system unavailable: {why}")
    base = str(tmp_path)
    fs = LazyFS(os.path.join(base, "backing"), os.path.join(base, "mnt")).start()
    try:
        yield fs, fs.mountpoint
    finally:
        fs.close()
        assert not mounts_under(base), f"mounts left: {mounts_under(base)}"


def put(path: str, data: bytes, fsync: bool = False) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def get(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_data_is_lost_synced_data_kept(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    put(f"{m}/a", b"old")
    put(f"{m}/b", b"old")
    fs.sync()
    put(f"{m}/a", b"new, never synced")
    put(f"{m}/b", b"new, synced", fsync=True)
    assert get(f"{m}/a") == b"new, never synced"  # every process sees it before the cut
    fs.cut()
    assert get(f"{m}/a") == b"old"
    assert get(f"{m}/b") == b"new, synced"


def test_a_new_name_needs_the_directory_synced(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    os.mkdir(f"{m}/d")
    fs.sync()
    put(f"{m}/d/x", b"x", fsync=True)  # data synced, name not
    put(f"{m}/d/y", b"y", fsync=True)
    fsync_dir(f"{m}/d")
    put(f"{m}/d/z", b"z", fsync=True)  # after the directory's fsync
    fs.cut()
    assert sorted(os.listdir(f"{m}/d")) == ["x", "y"]
    assert get(f"{m}/d/x") == b"x"


def test_rename_without_fsyncs(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    put(f"{m}/state", b"v1")
    fs.sync()
    put(f"{m}/state.tmp", b"v2")
    os.replace(f"{m}/state.tmp", f"{m}/state")
    fs.cut()  # nothing synced: the old file is back, the temp file is gone
    assert get(f"{m}/state") == b"v1" and sorted(os.listdir(m)) == ["state"]

    put(f"{m}/state.tmp", b"v2")  # no fsync of the data
    os.replace(f"{m}/state.tmp", f"{m}/state")
    fsync_dir(m)
    fs.cut()  # the rename is durable, the data is not: an empty file, as ext4 without auto_da_alloc
    assert get(f"{m}/state") == b""

    put(f"{m}/state.tmp", b"v3", fsync=True)
    os.replace(f"{m}/state.tmp", f"{m}/state")
    fsync_dir(m)
    fs.cut()
    assert get(f"{m}/state") == b"v3"


def test_unlink_and_rmdir_come_back(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    put(f"{m}/f", b"data", fsync=True)
    os.makedirs(f"{m}/d/e")
    fs.sync()
    os.unlink(f"{m}/f")
    os.rmdir(f"{m}/d/e")
    fs.cut()
    assert get(f"{m}/f") == b"data" and os.path.isdir(f"{m}/d/e")
    os.unlink(f"{m}/f")
    fsync_dir(m)
    fs.cut()
    assert get(f"{m}/f") is None


def test_truncate_and_extend(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    put(f"{m}/f", b"A" * 10000)
    fs.sync()
    with open(f"{m}/f", "r+b") as f:
        f.truncate(5000)
        f.seek(9000)
        f.write(b"B" * 100)
        f.flush()
        assert os.fstat(f.fileno()).st_size == 9100
    assert get(f"{m}/f") == b"A" * 5000 + b"\0" * 4000 + b"B" * 100
    fs.cut()
    assert get(f"{m}/f") == b"A" * 10000
    with open(f"{m}/f", "r+b") as f:
        f.truncate(5000)
        f.seek(9000)
        f.write(b"B" * 100)
        f.flush()
        os.fsync(f.fileno())
    fs.cut()
    assert get(f"{m}/f") == b"A" * 5000 + b"\0" * 4000 + b"B" * 100
    with open(f"{m}/f", "wb") as f:  # O_TRUNC, never synced
        f.write(b"short")
    fs.cut()
    assert get(f"{m}/f") == b"A" * 5000 + b"\0" * 4000 + b"B" * 100


MMAP_WRITER = """
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
mm = mmap.mmap(fd, 0)
mm[0:5] = b"hello"
mm[5000:5005] = b"world"
if sys.argv[2] == "msync":
    mm.flush()
os.kill(os.getpid(), 9)
"""


def test_mmap_needs_msync(lazy: tuple[LazyFS, str]) -> None:
    """pysyncobj's journal: an mmap never msynced is lost in a cut; msync makes it durable."""
    fs, m = lazy
    put(f"{m}/j", b"\0" * 8192, fsync=True)
    fsync_dir(m)
    for how, want in (("none", b"\0" * 5), ("msync", b"hello")):
        subprocess.run([sys.executable, "-c", MMAP_WRITER, f"{m}/j", how])
        assert get(f"{m}/j")[:5] == b"hello"  # type: ignore[index]
        fs.syncfs()
        fs.cut()
        data = get(f"{m}/j")
        assert data is not None and data[:5] == want and len(data) == 8192, how


def test_handles_from_before_a_cut_are_dead(lazy: tuple[LazyFS, str]) -> None:
    fs, m = lazy
    put(f"{m}/f", b"x", fsync=True)
    fsync_dir(m)
    fd = os.open(f"{m}/f", os.O_RDWR)
    try:
        fs.cut()
        with pytest.raises(OSError) as err:
            os.pwrite(fd, b"y", 0)
        assert err.value.errno == errno.EIO
    finally:
        os.close(fd)
    # The kernel sends FUSE's RELEASE after close(2) has returned (asynchronously, for a plain FUSE mount).
    poll(lambda: fs.stats()["open_handles"] == 0, 10, what="the dead handle to be released")
