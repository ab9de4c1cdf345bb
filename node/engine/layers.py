"""Unpack one image layer (a tar stream) into a directory in overlayfs format.

Each layer is unpacked once, into its own directory, and stacked by overlayfs as a
lower layer. OCI whiteouts become overlayfs whiteouts: `.wh.NAME` a 0/0 character
device named NAME, `.wh..wh..opq` the `trusted.overlay.opaque` xattr on its directory.

The archive is hostile until proven otherwise: every entry must land inside the layer
directory, never through a symlink, and a hard link may only point at an entry of the
same layer. A violation stops the unpack with an error naming the entry; the caller
unpacks into a scratch directory and removes it on failure, so nothing half-made stays.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from typing import Any, BinaryIO

import zstandard

from svc.errors import InvalidArgument

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_OPAQUE_XATTR = "trusted.overlay.opaque"
_DEFAULT_ACL = "system.posix_acl_default"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ = 1 << 20
_FEED = 1 << 16
# tarfile's stream buffer: each header read (512 bytes) copies what is left of it, so a 1 MiB buffer cost
# ~50 us per entry (a 5,000-file layer: 0.79 s of CPU, 0.55 s with 64 KiB); 64 KiB still reads a large file
# in few steps.
_TAR_BUF = 1 << 16


class _HashingReader:
    """A read-only stream that hashes what passes through it (the layer's diff id)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _Gunzip:
    """Reads of the uncompressed bytes of a gzip stream (one member or several, zero padding between):
    zlib with its own CRC and size checks, ~20 % less CPU than gzip.GzipFile's Python loop.

    The compressed bytes are read in 1 MiB blocks and given to zlib `_FEED` bytes at a time: zlib copies the
    input a read's size limit leaves unused (`unconsumed_tail`), so a whole block given at each 64 KiB read
    copied each byte ~8 times over, all of it holding the GIL."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d: Any = None  # the current member's decompressor; None between members
        self._buf = b""
        self._off = 0  # self._buf[self._off:] is what zlib has not been given yet

    def _fill(self) -> bool:
        """Read the next block after what is left; False at the end of the compressed stream."""
        data = self._raw.read(_READ)
        if not data:
            return False
        self._buf = self._buf[self._off :] + data if self._off < len(self._buf) else data
        self._off = 0
        return True

    def read(self, n: int = -1) -> bytes:
        size = n if n and n > 0 else _READ
        while True:
            if self._d is None:  # a member begins here, after any zero padding, or the stream ends
                self._buf, self._off = self._buf[self._off :].lstrip(b"\0"), 0
                if not self._buf:
                    if not self._fill():
                        return b""
                    continue
                self._d = zlib.decompressobj(31)
            d = self._d
            if self._off >= len(self._buf):
                out = d.decompress(b"", size)  # what the last size limit held back
                if not out and not d.eof and not self._fill():
                    raise EOFError("the compressed layer ends in the middle of a gzip stream")
            else:
                piece = memoryview(self._buf)[self._off : self._off + _FEED]
                out = d.decompress(piece, size)
                # what it did not use: after the member's end (unconsumed_tail may hold it too), or for the next call
                self._off += len(piece) - len(d.unused_data if d.eof else d.unconsumed_tail)
            if d.eof:
                self._d = None
            if out:
                return out


def open_uncompressed(raw: BinaryIO) -> BinaryIO:
    """Wrap `raw` so reads return the uncompressed tar, whatever the layer's compression."""
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(_GZIP_MAGIC):
        return _Gunzip(raw)  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        # read_across_frames: a layer may be several concatenated frames, as zstd's own CLI reads them.
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    return raw


def clean_entry_name(name: str) -> str:
    """The entry's path relative to the layer root, or an error if it could escape it."""
    if name.startswith("/"):
        raise InvalidArgument(f"layer entry {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"layer entry {name!r} points outside the layer")
    return "/".join(parts)


_DIR, _SYMLINK, _OTHER = "dir", "symlink", "other"


def _umask() -> int | None:
    """This process's umask, read without setting it (os.umask would, for every thread at once). svcd sets
    its umask only while it binds its sockets at start, before anything can pull."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None


def _has_default_acl(path: str) -> bool:
    try:
        return _DEFAULT_ACL in os.listxattr(path)
    except OSError:
        return False  # no xattrs here: no ACLs either


class _Unpacker:
    """Writes the entries into `root`, an empty directory only it writes to.

    So it knows what every path there is without asking the kernel: `made` maps each path it created to its
    kind, and a path not in it does not exist. Each system call an entry saves is a GIL hand-off saved, and
    hand-offs are what a Python-heavy unpack of many small files (a busybox layer: ~400 entries) waits on
    while other layers download and unpack beside it. So an entry it creates is not chowned when the owner
    would not change (the creator's, and no directory so far could have passed on another group), nor
    chmodded when its creation mode was already final (no special bits, nothing the umask or a default ACL
    takes away)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dir_times: dict[str, float] = {}  # directory -> its last header's mtime, set at the end
        self.made: dict[str, str] = {"": _DIR}
        self._me = (os.geteuid(), os.getegid())
        # A directory may pass its group to what is made in it (setgid, or a grpid mount): chown everything
        # once one has a group other than ours, and from the start if the root itself does.
        st = os.stat(root)
        self._group_passed = bool(st.st_mode & stat.S_ISGID) or st.st_gid != self._me[1]
        umask = _umask()
        self._exact = None if umask is None or _has_default_acl(root) else ~umask & 0o777  # bits a creation keeps

    def _ensure_parent(self, rel: str, entry: str) -> str:
        """Create the parent directories of `rel`, refusing to pass through a symlink."""
        prefix = ""
        for part in rel.split("/")[:-1]:
            prefix = f"{prefix}/{part}" if prefix else part
            kind = self.made.get(prefix)
            if kind is None:
                os.mkdir(os.path.join(self.root, prefix), 0o755)
                self.made[prefix] = _DIR
            elif kind == _SYMLINK:
                raise InvalidArgument(f"layer entry {entry!r} would be written through a symlink")
            elif kind != _DIR:
                raise InvalidArgument(f"layer entry {entry!r} has a parent that is not a directory")
        return os.path.join(self.root, rel)

    def _clear(self, rel: str, keep_dir: bool) -> bool:
        """Remove what is at `rel` (a directory only if not `keep_dir`). True if a directory stays there."""
        kind = self.made.get(rel)
        if kind is None:
            return False
        path = os.path.join(self.root, rel)
        if kind == _DIR:
            if keep_dir:
                return True
            shutil.rmtree(path)
            inside = rel + "/"
            for known in (self.made, self.dir_times):
                for p in [p for p in known if p.startswith(inside)]:
                    del known[p]
            self.dir_times.pop(rel, None)
        else:
            os.unlink(path)
        del self.made[rel]
        return False

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = clean_entry_name(member.name)
        if not rel:
            if member.isdir():
                self._set_meta(self.root, "", member, created=False, exact=False)
            return
        base = rel.rsplit("/", 1)[-1]
        if base == OPAQUE_MARKER:
            parent = self._ensure_parent(rel, member.name)
            parent_dir = os.path.dirname(parent)
            os.setxattr(parent_dir, _OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = base[len(WHITEOUT_PREFIX) :]
            if hidden in ("", ".", ".."):
                raise InvalidArgument(f"layer entry {member.name!r} is a whiteout of no name")
            target = self._ensure_parent(rel, member.name)
            hidden_rel = rel[: len(rel) - len(base)] + hidden
            self._clear(hidden_rel, keep_dir=False)
            os.mknod(os.path.join(os.path.dirname(target), hidden), stat.S_IFCHR, 0)
            self.made[hidden_rel] = _OTHER
            return
        path = self._ensure_parent(rel, member.name)
        created = not self._clear(rel, keep_dir=member.isdir())
        mode = self._creation_mode(member)
        kind = _OTHER
        if member.isdir():
            kind = _DIR
            if created:
                os.mkdir(path, 0o755 if mode is None else mode)
        elif member.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600 if mode is None else mode)
            with os.fdopen(fd, "wb") as out:
                src = tar.extractfile(member)
                if src is not None:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        elif member.issym():
            kind = _SYMLINK
            os.symlink(member.linkname, path)
        elif member.islnk():
            target_rel = clean_entry_name(member.linkname)
            self._check_no_symlink_parents(target_rel, member.name)
            target_kind = self.made.get(target_rel)
            if target_kind is None:
                raise InvalidArgument(
                    f"layer entry {member.name!r} is a hard link to {member.linkname!r}, which is not in the layer"
                )
            os.link(os.path.join(self.root, target_rel), path, follow_symlinks=False)
            self.made[rel] = target_kind
            return
        elif member.ischr() or member.isblk():
            dev = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, dev | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
            mode = None  # mknod's mode is masked like any creation's: set again below
        elif member.isfifo():
            os.mkfifo(path, member.mode & 0o7777)
            mode = None
        else:
            raise InvalidArgument(f"layer entry {member.name!r} has an unsupported type {member.type!r}")
        self.made[rel] = kind
        self._set_meta(path, rel, member, created=created, exact=created and mode is not None)

    def _creation_mode(self, member: tarfile.TarInfo) -> int | None:
        """The mode to create the entry with when that gives its final mode (no chown after it, which would
        clear setuid bits; no special bits; nothing the umask takes away), else None (chmod after)."""
        mode = member.mode & 0o7777
        if self._exact is None or mode & ~self._exact or self._needs_chown(member):
            return None
        return mode

    def _needs_chown(self, member: tarfile.TarInfo) -> bool:
        """Whether a new entry must be chowned to get the header's owner."""
        return self._group_passed or (member.uid, member.gid) != self._me

    def _check_no_symlink_parents(self, rel: str, entry: str) -> None:
        prefix = ""
        for part in rel.split("/")[:-1]:
            prefix = f"{prefix}/{part}" if prefix else part
            if self.made.get(prefix) == _SYMLINK:
                raise InvalidArgument(f"layer entry {entry!r} links through a symlink")

    def _set_meta(self, path: str, rel: str, member: tarfile.TarInfo, created: bool, exact: bool) -> None:
        """Owner, mode, xattrs and time. `created`: the entry made the inode just now; `exact`: with its final
        mode (see _creation_mode). An inode kept from an earlier header is always chowned and chmodded."""
        chowned = not created or self._needs_chown(member)
        if chowned:
            os.lchown(path, member.uid, member.gid)
        if not member.issym() and (chowned or not exact):
            # chmod after chown: chown clears setuid/setgid bits.
            os.chmod(path, member.mode & 0o7777)
        if member.isdir() and (member.mode & stat.S_ISGID or member.gid != self._me[1]):
            self._group_passed = True
        for key, value in (member.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                name = key[len("SCHILY.xattr.") :]
                if name == _DEFAULT_ACL:
                    self._exact = None  # what is made in this directory gets the ACL's mode, not the umask's
                try:
                    os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
                except OSError:
                    pass  # an xattr the filesystem refuses (e.g. security.selinux) is not fatal
        if member.isdir():
            self.dir_times[rel] = member.mtime
        else:
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        # Directory times last (creating entries inside a directory changes its mtime), the deepest first,
        # each on a directory the layer still has: every path component is then a directory made here.
        for rel in sorted(self.dir_times, key=lambda r: r.count("/") + bool(r), reverse=True):
            if self.made.get(rel) == _DIR:
                mtime = self.dir_times[rel]
                os.utime(os.path.join(self.root, rel) if rel else self.root, (mtime, mtime), follow_symlinks=False)


def unpack_layer(blob: BinaryIO, dest: str) -> tuple[str, int]:
    """Unpack the layer in `blob` (gzip, zstd or plain tar) into the empty directory `dest`.

    Returns the layer's diff id (`sha256:` + digest of the uncompressed tar) and its
    uncompressed size. Raises InvalidArgument for a hostile or corrupt layer.
    """
    reader = _HashingReader(open_uncompressed(blob))
    unpacker = _Unpacker(dest)
    try:
        # 64 KiB reads through the decompressor and the hash, not tarfile's default 10 KiB records
        with tarfile.open(fileobj=reader, mode="r|", bufsize=_TAR_BUF) as tar:  # type: ignore[call-overload]
            for member in tar:
                unpacker.entry(tar, member)
        reader.drain()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError) as exc:
        raise InvalidArgument(f"layer is not a valid tar archive: {exc}") from exc
    unpacker.finish()
    return "sha256:" + reader.hasher.hexdigest(), reader.size
