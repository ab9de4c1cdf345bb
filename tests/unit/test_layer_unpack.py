"""The layer unpacker (node/engine/layers.unpack_layer): every entry ends with the owner, mode and time its
tar header gives, whatever the umask, the setgid directories or the entries replaced on the way, though it
skips the system calls that would change nothing; and what could escape the layer is refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from node.engine.layers import unpack_layer
from svc.errors import InvalidArgument

pytestmark = pytest.mark.root

MTIME = 1_600_000_000


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, uid: int = 0, gid: int = 0, **kw: object):  # type: ignore[no-untyped-def]
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    for k, v in kw.items():
        setattr(info, k, v)
    return info


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


ENTRIES = [
    (_info("bin", tarfile.DIRTYPE, 0o755), b""),
    (_info("bin/tool", mode=0o755), b"#!/bin/sh\n"),
    (_info("bin/suid", mode=0o4755), b"x"),
    (_info("bin/sh", tarfile.SYMTYPE, 0o777, linkname="tool"), b""),
    (_info("bin/hard", tarfile.LNKTYPE, 0o755, linkname="bin/tool"), b""),
    (_info("home/user/notes", mode=0o600, uid=1000, gid=1000), b"mine"),  # parents made implicitly
    (_info("home/user", tarfile.DIRTYPE, 0o700, uid=1000, gid=1000), b""),  # the directory's entry after
    (_info("tmp", tarfile.DIRTYPE, 0o1777), b""),
    (_info("shared", tarfile.DIRTYPE, 0o2775, gid=50), b""),
    (_info("shared/root-file", mode=0o644), b"r"),  # root's group, not the setgid directory's 50
    (_info("shared/sub", tarfile.DIRTYPE, 0o755), b""),
    (_info("open", mode=0o666), b"o"),  # a mode the umask would take bits from
    (_info("fifo", tarfile.FIFOTYPE, 0o640), b""),
    (_info("null", tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3), b""),
    (_info("was-file", mode=0o644), b"old"),
    (_info("was-file", tarfile.DIRTYPE, 0o750), b""),  # a file replaced by a directory
    (_info("was-dir", tarfile.DIRTYPE, 0o755), b""),
    (_info("was-dir/inner", mode=0o644), b"i"),
    (_info("was-dir", tarfile.SYMTYPE, 0o777, linkname="bin"), b""),  # a directory replaced by a symlink
    (_info("again", mode=0o600), b"first"),
    (_info("again", mode=0o640, uid=7, gid=8), b"second"),  # a file replaced by a file
]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0])
def test_each_entry_has_its_headers_owner_mode_and_time(tmp_path, mask: int) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    with _umask(mask):
        diff_id, size = unpack_layer(io.BytesIO(_tar(ENTRIES)), str(dest))
    assert size > 0 and diff_id.startswith("sha256:")
    last = {info.name: info for info, _ in ENTRIES if info.name != "was-dir/inner"}  # under a replaced dir
    for name, info in last.items():
        st = os.lstat(dest / name)
        assert (st.st_uid, st.st_gid) == (info.uid, info.gid), name
        if info.issym():
            assert stat.S_ISLNK(st.st_mode) and os.readlink(dest / name) == info.linkname, name
        else:
            assert stat.S_IMODE(st.st_mode) == info.mode, f"{name}: {oct(stat.S_IMODE(st.st_mode))}"
        assert int(st.st_mtime) == MTIME, name
    assert (dest / "again").read_bytes() == b"second"
    assert not os.path.lexists(dest / "was-dir" / "inner")
    assert os.lstat(dest / "bin" / "hard").st_ino == os.lstat(dest / "bin" / "tool").st_ino
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert os.lstat(dest / "null").st_rdev == os.makedev(1, 3)


def test_whiteouts_become_overlay_whiteouts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    entries = [
        (_info("d", tarfile.DIRTYPE, 0o755), b""),
        (_info("d/.wh.gone"), b""),
        (_info("d/.wh..wh..opq"), b""),
        (_info("here", mode=0o644), b"h"),
        (_info(".wh.here"), b""),  # a whiteout over an entry of the same layer replaces it
    ]
    unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    for name in ("d/gone", "here"):
        st = os.lstat(dest / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, name
    assert os.getxattr(dest / "d", "trusted.overlay.opaque") == b"y"


@pytest.mark.parametrize(
    "entries, message",
    [
        ([(_info("link", tarfile.SYMTYPE, linkname="/"), b""), (_info("link/pwned"), b"x")], "through a symlink"),
        (  # a directory first, replaced by a symlink: what was known of it is forgotten
            [
                (_info("d", tarfile.DIRTYPE, 0o755), b""),
                (_info("d/a"), b"a"),
                (_info("d", tarfile.SYMTYPE, linkname="/"), b""),
                (_info("d/pwned"), b"x"),
            ],
            "through a symlink",
        ),
        (  # a hard link to a symlink is a symlink too
            [
                (_info("s", tarfile.SYMTYPE, linkname="/"), b""),
                (_info("h", tarfile.LNKTYPE, linkname="s"), b""),
                (_info("h/pwned"), b"x"),
            ],
            "through a symlink",
        ),
        ([(_info("f"), b"x"), (_info("f/under"), b"y")], "not a directory"),
        ([(_info("h", tarfile.LNKTYPE, linkname="missing"), b"")], "not in the layer"),
        ([(_info("h", tarfile.LNKTYPE, linkname="../../etc/passwd"), b"")], "outside the layer"),
        (  # a link whose target's parent is a symlink
            [
                (_info("s", tarfile.SYMTYPE, linkname="/etc"), b""),
                (_info("h", tarfile.LNKTYPE, linkname="s/passwd"), b""),
            ],
            "links through a symlink",
        ),
    ],
)
def test_what_could_escape_is_refused(tmp_path, entries, message: str) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    with pytest.raises(InvalidArgument, match=message):
        unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    assert not os.path.exists("/pwned")


def test_a_directory_replaced_and_made_again_is_empty(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    entries = [
        (_info("d", tarfile.DIRTYPE, 0o755), b""),
        (_info("d/x", tarfile.DIRTYPE, 0o755), b""),
        (_info("d", mode=0o644), b"a file now"),
        (_info("d", tarfile.DIRTYPE, 0o755), b""),
        (_info("d/x/y", mode=0o644), b"y"),  # d/x went with the first d: made again here
    ]
    unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    assert (dest / "d" / "x" / "y").read_bytes() == b"y"


def test_a_root_in_a_setgid_directory_still_gets_the_headers_group(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parent = tmp_path / "store"
    parent.mkdir()
    os.chown(parent, 0, 50)
    os.chmod(parent, 0o2755)
    dest = parent / "layer"
    dest.mkdir()  # takes group 50 and the setgid bit from its parent
    entries = [(_info("./", tarfile.DIRTYPE, 0o755), b""), (_info("f"), b"f"), (_info("d", tarfile.DIRTYPE), b"")]
    unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    for p in (dest, dest / "f", dest / "d"):
        assert os.lstat(p).st_gid == 0, p


def test_directory_times_and_owners_come_from_their_last_header(tmp_path) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    entries = [
        (_info("d", tarfile.DIRTYPE, 0o700, uid=1000, gid=1000, mtime=MTIME - 100), b""),
        (_info("d/sub", tarfile.DIRTYPE, 0o755, mtime=MTIME - 50), b""),
        (_info("d/sub/f", mode=0o644), b"f"),
        (_info("d", tarfile.DIRTYPE, 0o755, mtime=MTIME + 100), b""),  # again, as the process's own 0:0
    ]
    unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    st = os.lstat(dest / "d")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0, 0, 0o755, MTIME + 100)
    assert int(os.lstat(dest / "d" / "sub").st_mtime) == MTIME - 50


def test_a_directory_replaced_by_a_symlink_gets_no_time_through_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    (outside / "passwd").mkdir(parents=True)
    before = os.lstat(outside / "passwd").st_mtime_ns
    dest = tmp_path / "layer"
    dest.mkdir()
    entries = [
        (_info("a", tarfile.DIRTYPE, 0o755), b""),
        (_info("a/passwd", tarfile.DIRTYPE, 0o755), b""),
        (_info("a", tarfile.SYMTYPE, linkname=str(outside)), b""),
    ]
    unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    assert os.lstat(outside / "passwd").st_mtime_ns == before


@pytest.mark.parametrize("name", [".wh.", "d/.wh..", "d/.wh..."])
def test_a_whiteout_of_no_name_is_refused(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "layer"
    dest.mkdir()
    entries = [(_info("d", tarfile.DIRTYPE, 0o755), b""), (_info("d/keep"), b"k"), (_info(name), b"")]
    with pytest.raises(InvalidArgument, match="whiteout of no name"):
        unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    assert (dest / "d" / "keep").exists()


def test_a_default_acl_does_not_narrow_the_modes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import struct

    dest = tmp_path / "layer"
    dest.mkdir()
    # user::rwx group::r-x other::--- : what is made here gets no bits for others, whatever the umask
    acl = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, 0xFFFFFFFF) for tag, perm in [(1, 7), (4, 5), (32, 0)]
    )
    try:
        os.setxattr(dest, "system.posix_acl_default", acl)
    except OSError as exc:
        pytest.skip(f"no ACLs here: {exc}")
    entries = [(_info("f", mode=0o644), b"f"), (_info("d", tarfile.DIRTYPE, 0o755), b"")]
    with _umask(0o022):
        unpack_layer(io.BytesIO(_tar(entries)), str(dest))
    assert stat.S_IMODE(os.lstat(dest / "f").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(dest / "d").st_mode) == 0o755
