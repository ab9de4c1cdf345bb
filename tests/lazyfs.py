"""A lazy file system for power-cut tests, in the way of Jepsen's LazyFS.

`LazyFS(backing, mountpoint).start()` mounts a FUSE file system (mfusepy over libfuse3) at
`mountpoint` that passes everything through to `backing/tree`, except what a power cut would
lose. `cut()` drops all of that at once; `sync()` makes everything durable (a checkpoint: as if
the machine had run long enough for the kernel to write everything back); `stats()` counts.
The file system runs in a child process (`python tests/lazyfs.py BACKING MOUNTPOINT`) driven
by JSON lines on its stdin and stdout; when the test process goes away, it unmounts itself.

What survives a cut (what is "durable"):

- File data (write, truncate, O_TRUNC, fallocate) goes to an in-memory overlay per inode, in
  4 KiB pages over the backing file. fsync or fdatasync of the file (and so msync, O_SYNC and
  O_DSYNC writes, which reach FUSE as writes then fsync) writes the overlay into the backing
  file: durable. A cut drops every overlay.
- Names (create, mkdir, mknod, symlink, link, unlink, rmdir, rename) change the backing tree
  at once, so every process sees them, but each is recorded in an ordered log with how to undo
  it (unlinked and replaced entries wait in `backing/trash`). fsync of a directory (fsyncdir)
  makes durable every change in the log up to the last one that touched that directory, in
  order, as a journaling file system commits its transaction; fsync of a file does NOT make
  its own name durable (POSIX: fsync the directory too). A cut undoes the rest, newest first.
  So `write tmp; rename tmp name` without fsyncs loses the new file after a cut (the old one is
  back), and `write tmp; rename; fsync dir` without fsync of tmp leaves `name` with its data
  lost (empty): what ext4 without auto_da_alloc does.
- Attributes (chmod, chown, utimes) are durable at once.
- The kernel's page cache is not a hiding place: every open re-reads (no keep_cache), and
  attribute and entry caches are off (timeouts 0), so a process started after a cut sees only
  the durable state. Dirty mmap pages reach the file system when their process exits (FUSE
  writes them back on unmap) or on syncfs(2), as unsynced writes; `power_cut` in the tests
  kills the processes first, then syncfs, then cut.
- Handles opened before a cut are dead after it (EIO), as after a reboot.

Locks (flock, fcntl) are left to the kernel (local locks, fine on one machine); xattrs are not
supported. Root only (allow_other, default_permissions). Needs /dev/fuse, libfuse3 (`fuse3`)
and the `mfusepy` package (the test extra).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import select
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

PAGE = 4096
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
log = logging.getLogger("lazyfs")


def available() -> str:
    """Why lazy mounts cannot work here ("" when they can)."""
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not shutil.which("fusermount3"):
        return "no fusermount3 (Debian package fuse3; ./deploy/test.sh installs it)"
    os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy does not load ({exc}); ./deploy/test.sh installs it"
    return ""


def mounted(path: str) -> bool:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


# ----- the file system (in the child process) -----


class _Overlay:
    """An inode's unsynced data: `size` now; backing bytes from `valid` on are stale (truncated)."""

    __slots__ = ("fd", "pages", "size", "valid")

    def __init__(self, fd: int) -> None:
        self.fd = fd  # our own read-write descriptor of the backing inode (keeps it alive)
        self.size = self.valid = os.fstat(fd).st_size
        self.pages: dict[int, bytearray] = {}


class _Handle:
    __slots__ = ("epoch", "fd", "key", "sync")

    def __init__(self, fd: int, key: tuple[int, int], epoch: int, sync: bool) -> None:
        self.fd, self.key, self.epoch, self.sync = fd, key, epoch, sync


def _key(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _parent(path: str) -> str:
    return os.path.dirname(path.rstrip("/")) or "/"


def _make_ops(backing: str) -> Any:
    import mfusepy

    class LazyOps(mfusepy.Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self) -> None:
            self.tree = os.path.join(backing, "tree")
            self.trash = os.path.join(backing, "trash")
            os.makedirs(self.tree, exist_ok=True)
            os.makedirs(self.trash, exist_ok=True)
            self._mutex = threading.RLock()
            self.overlays: dict[tuple[int, int], _Overlay] = {}
            self.handles: dict[int, _Handle] = {}
            self.fhs = itertools.count(1)
            self.trash_names = itertools.count(1)
            # pending namespace changes, oldest first: (kind, directories touched, args)
            self.pending: list[tuple[str, tuple[str, ...], tuple[Any, ...]]] = []
            self.epoch = 0
            self.counts: Counter[str] = Counter()
            self.ready = threading.Event()

        # ----- helpers -----

        def real(self, path: str | None) -> str:
            if path is None:
                raise _oserror(errno.ENOENT)
            return os.path.join(self.tree, path.lstrip("/"))

        def handle(self, fh: int) -> _Handle:
            h = self.handles.get(fh)
            if h is None or h.epoch != self.epoch:
                raise _oserror(errno.EIO)  # opened before a power cut
            return h

        def owner(self, real: str) -> None:
            uid, gid, _pid = mfusepy.fuse_get_context()
            if (uid, gid) != (os.geteuid(), os.getegid()):
                os.lchown(real, uid, gid)

        def log_change(self, kind: str, dirs: tuple[str, ...], *args: Any) -> None:
            self.pending.append((kind, dirs, args))
            self.counts["namespace_changes"] += 1

        def to_trash(self, real: str) -> str:
            name = str(next(self.trash_names))
            os.rename(real, os.path.join(self.trash, name))
            return name

        def forget(self, key: tuple[int, int]) -> None:
            """Drop an overlay whose inode is gone (so its number can be reused safely)."""
            ov = self.overlays.get(key)
            if ov is None or any(h.key == key for h in self.handles.values()):
                return
            if os.fstat(ov.fd).st_nlink == 0:
                os.close(ov.fd)
                del self.overlays[key]

        def delete_trash(self, name: str) -> None:
            p = os.path.join(self.trash, name)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(p)
            else:
                os.unlink(p)
                self.forget(_key(st))

        def overlay(self, key: tuple[int, int], fd: int) -> _Overlay:
            ov = self.overlays.get(key)
            if ov is None:
                ov = self.overlays[key] = _Overlay(os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC))
            return ov

        def base_page(self, ov: _Overlay, idx: int) -> bytearray:
            start = idx * PAGE
            n = max(0, min(PAGE, ov.valid - start))
            data = os.pread(ov.fd, n, start) if n else b""
            return bytearray(data.ljust(PAGE, b"\0"))

        def flush_overlay(self, key: tuple[int, int]) -> None:
            ov = self.overlays.pop(key, None)
            if ov is None:
                return
            try:
                if ov.valid < os.fstat(ov.fd).st_size:
                    os.ftruncate(ov.fd, ov.valid)
                for idx in sorted(ov.pages):
                    n = min(PAGE, ov.size - idx * PAGE)
                    if n > 0:
                        os.pwrite(ov.fd, bytes(ov.pages[idx][:n]), idx * PAGE)
                        self.counts["pages_synced"] += 1
                os.ftruncate(ov.fd, ov.size)
            finally:
                os.close(ov.fd)

        def truncate_key(self, key: tuple[int, int], fd: int, length: int) -> None:
            ov = self.overlay(key, fd)
            if length < ov.size:
                keep = -(-length // PAGE)
                for idx in [i for i in ov.pages if i >= keep]:
                    del ov.pages[idx]
                tail = ov.pages.get(length // PAGE)
                if tail is not None:
                    tail[length % PAGE :] = bytes(PAGE - length % PAGE)
                ov.valid = min(ov.valid, length)
            ov.size = length

        def commit_through(self, last: int) -> None:
            """Make pending namespace changes [0..last] durable."""
            done, self.pending = self.pending[: last + 1], self.pending[last + 1 :]
            for kind, _dirs, args in done:
                trash = args[0] if kind == "restore" else args[2] if kind == "rename" else None
                if trash is not None:
                    with contextlib.suppress(OSError):
                        self.delete_trash(trash)
                self.counts["namespace_committed"] += 1

        def undo(self, kind: str, args: tuple[Any, ...]) -> None:
            if kind == "remove":  # a name made: take it away
                (path,) = args
                real = self.real(path)
                if os.path.isdir(real) and not os.path.islink(real):
                    os.rmdir(real)
                else:
                    os.unlink(real)
            elif kind == "restore":  # a name removed: put it back
                name, path = args
                os.rename(os.path.join(self.trash, name), self.real(path))
            elif kind == "rename":
                old, new, trash = args
                os.rename(self.real(new), self.real(old))
                if trash is not None:
                    os.rename(os.path.join(self.trash, trash), self.real(new))

        # ----- control (called from the control thread) -----

        def cut(self) -> dict[str, Any]:
            with self._mutex:
                self.epoch += 1
                dropped_pages = sum(len(ov.pages) for ov in self.overlays.values())
                dropped_files = len(self.overlays)
                undone, failed = 0, []
                for kind, _dirs, args in reversed(self.pending):
                    try:
                        self.undo(kind, args)
                        undone += 1
                    except OSError as exc:
                        failed.append(f"{kind} {args}: {exc}")
                self.pending = []
                for ov in self.overlays.values():
                    os.close(ov.fd)
                self.overlays.clear()
                for name in os.listdir(self.trash):
                    with contextlib.suppress(OSError):
                        self.delete_trash(name)
                self.counts["cuts"] += 1
                return {
                    "dropped_files": dropped_files,
                    "dropped_pages": dropped_pages,
                    "undone": undone,
                    "undo_failed": failed,
                }

        def sync_all(self) -> dict[str, Any]:
            with self._mutex:
                files = len(self.overlays)
                for key in list(self.overlays):
                    self.flush_overlay(key)
                names = len(self.pending)
                self.commit_through(len(self.pending) - 1)
                return {"synced_files": files, "committed": names}

        def stats(self) -> dict[str, Any]:
            with self._mutex:
                return {
                    **self.counts,
                    "unsynced_files": len(self.overlays),
                    "unsynced_pages": sum(len(ov.pages) for ov in self.overlays.values()),
                    "pending_namespace_changes": len(self.pending),
                    "open_handles": len(self.handles),
                }

        # ----- FUSE operations -----

        def init(self, path: str) -> None:
            self.ready.set()

        def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
            with self._mutex:
                h = self.handles.get(fh) if fh else None
                st = os.fstat(h.fd) if h is not None else os.lstat(self.real(path))
                attrs = {
                    k: getattr(st, k)
                    for k in ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks", "st_rdev")
                }
                attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
                ov = self.overlays.get(_key(st))
                if ov is not None and stat.S_ISREG(st.st_mode):
                    attrs["st_size"] = ov.size
                    attrs["st_blocks"] = -(-ov.size // 512)
                return attrs

        def readdir(self, path: str, fh: int) -> list[str]:
            with self._mutex:
                return [".", "..", *os.listdir(self.real(path))]

        def readlink(self, path: str) -> str:
            return os.readlink(self.real(path))

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(self.tree)
            keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail")
            return {**{k: getattr(sv, k) for k in keys}, "f_namemax": sv.f_namemax}

        def chmod(self, path: str, mode: int) -> int:
            real = self.real(path)
            if not os.path.islink(real):  # Linux has no modes on symlinks
                os.chmod(real, mode)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            os.lchown(self.real(path), uid, gid)
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            real = self.real(path)
            if times is None:
                os.utime(real, follow_symlinks=False)
            else:
                os.utime(real, ns=(int(times[0]), int(times[1])), follow_symlinks=False)
            return 0

        # names

        def mkdir(self, path: str, mode: int) -> int:
            with self._mutex:
                real = self.real(path)
                os.mkdir(real, mode)
                self.owner(real)
                self.log_change("remove", (_parent(path),), path)
                return 0

        def mknod(self, path: str, mode: int, dev: int) -> int:
            with self._mutex:
                real = self.real(path)
                os.mknod(real, mode, dev)
                self.owner(real)
                self.log_change("remove", (_parent(path),), path)
                return 0

        def symlink(self, target: str, source: str) -> int:
            with self._mutex:
                real = self.real(target)
                os.symlink(source, real)
                self.owner(real)
                self.log_change("remove", (_parent(target),), target)
                return 0

        def link(self, target: str, source: str) -> int:
            with self._mutex:
                os.link(self.real(source), self.real(target))
                self.log_change("remove", (_parent(target),), target)
                return 0

        def unlink(self, path: str) -> int:
            with self._mutex:
                real = self.real(path)
                if stat.S_ISDIR(os.lstat(real).st_mode):
                    raise _oserror(errno.EISDIR)
                self.log_change("restore", (_parent(path),), self.to_trash(real), path)
                return 0

        def rmdir(self, path: str) -> int:
            with self._mutex:
                real = self.real(path)
                if not stat.S_ISDIR(os.lstat(real).st_mode):
                    raise _oserror(errno.ENOTDIR)
                if os.listdir(real):
                    raise _oserror(errno.ENOTEMPTY)
                self.log_change("restore", (_parent(path),), self.to_trash(real), path)
                return 0

        def rename(self, old: str, new: str, flags: int = 0) -> int:
            with self._mutex:
                if flags & RENAME_EXCHANGE:
                    raise _oserror(errno.EINVAL)
                src, dst = self.real(old), self.real(new)
                src_st = os.lstat(src)
                if old == new:
                    return 0
                trash = None
                try:
                    dst_st: os.stat_result | None = os.lstat(dst)
                except FileNotFoundError:
                    dst_st = None
                if dst_st is not None:
                    if flags & RENAME_NOREPLACE:
                        raise _oserror(errno.EEXIST)
                    if _key(dst_st) == _key(src_st):
                        return 0  # two names of one inode: rename(2) does nothing
                    src_dir, dst_dir = stat.S_ISDIR(src_st.st_mode), stat.S_ISDIR(dst_st.st_mode)
                    if src_dir and not dst_dir:
                        raise _oserror(errno.ENOTDIR)
                    if dst_dir and not src_dir:
                        raise _oserror(errno.EISDIR)
                    if dst_dir and os.listdir(dst):
                        raise _oserror(errno.ENOTEMPTY)
                    trash = self.to_trash(dst)
                try:
                    os.rename(src, dst)
                except OSError:
                    if trash is not None:
                        os.rename(os.path.join(self.trash, trash), dst)
                    raise
                self.log_change("rename", (_parent(old), _parent(new)), old, new, trash)
                return 0

        # data

        def _open(self, real: str, flags: int) -> int:
            try:
                fd = os.open(real, os.O_RDWR | os.O_CLOEXEC | (flags & os.O_NOFOLLOW))
            except OSError as exc:
                if exc.errno not in (errno.EISDIR, errno.ETXTBSY, errno.EACCES, errno.EPERM):
                    raise
                fd = os.open(real, (flags & os.O_ACCMODE) | os.O_CLOEXEC)
            key = _key(os.fstat(fd))
            fh = next(self.fhs)
            self.handles[fh] = _Handle(fd, key, self.epoch, bool(flags & (os.O_SYNC | os.O_DSYNC)))
            if flags & os.O_TRUNC:
                self.truncate_key(key, fd, 0)
            return fh

        def open(self, path: str, flags: int) -> int:
            with self._mutex:
                return self._open(self.real(path), flags)

        def create(self, path: str, mode: int, flags: int) -> int:
            with self._mutex:
                real = self.real(path)
                try:
                    fd = os.open(real, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
                except FileExistsError:
                    if flags & os.O_EXCL:
                        raise
                    return self._open(real, flags)
                os.close(fd)
                self.owner(real)
                self.log_change("remove", (_parent(path),), path)
                return self._open(real, flags & ~os.O_TRUNC)

        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            with self._mutex:
                h = self.handle(fh)
                ov = self.overlays.get(h.key)
                if ov is None:
                    return os.pread(h.fd, size, offset)
                end = min(offset + size, ov.size)
                out = bytearray()
                pos = offset
                while pos < end:
                    idx = pos // PAGE
                    page = ov.pages.get(idx)
                    if page is None:
                        page = self.base_page(ov, idx)
                    stop = min(end, (idx + 1) * PAGE)
                    out += page[pos - idx * PAGE : stop - idx * PAGE]
                    pos = stop
                return bytes(out)

        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            with self._mutex:
                h = self.handle(fh)
                ov = self.overlay(h.key, h.fd)
                pos, end = offset, offset + len(data)
                while pos < end:
                    idx = pos // PAGE
                    page = ov.pages.get(idx)
                    if page is None:
                        page = ov.pages[idx] = self.base_page(ov, idx)
                    stop = min(end, (idx + 1) * PAGE)
                    page[pos - idx * PAGE : stop - idx * PAGE] = data[pos - offset : stop - offset]
                    pos = stop
                ov.size = max(ov.size, end)
                self.counts["writes"] += 1
                if h.sync:
                    self.flush_overlay(h.key)
                return len(data)

        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            with self._mutex:
                if fh:
                    h = self.handle(fh)
                    self.truncate_key(h.key, h.fd, length)
                    return 0
                real = self.real(path)
                key = _key(os.stat(real))
                if key in self.overlays:
                    self.truncate_key(key, self.overlays[key].fd, length)
                    return 0
                fd = os.open(real, os.O_RDWR | os.O_CLOEXEC)
                try:
                    self.truncate_key(key, fd, length)
                finally:
                    os.close(fd)
                return 0

        def fallocate(self, path: str | None, mode: int, offset: int, length: int, fh: int) -> int:
            with self._mutex:
                if mode != 0:
                    raise _oserror(errno.EOPNOTSUPP)
                h = self.handle(fh)
                ov = self.overlay(h.key, h.fd)
                ov.size = max(ov.size, offset + length)
                return 0

        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            with self._mutex:
                h = self.handle(fh)
                self.flush_overlay(h.key)
                self.counts["fsyncs"] += 1
                return 0

        def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
            with self._mutex:
                self.counts["fsyncdirs"] += 1
                if path is None:
                    return 0
                touching = [i for i, (_k, dirs, _a) in enumerate(self.pending) if path in dirs]
                if touching:
                    self.commit_through(touching[-1])
                return 0

        def flush(self, path: str | None, fh: int) -> int:
            return 0  # close(2) does not make anything durable

        def release(self, path: str | None, fh: int) -> int:
            with self._mutex:
                h = self.handles.pop(fh, None)
                if h is not None:
                    os.close(h.fd)
                    self.forget(h.key)
                return 0

    class LazyFUSE(mfusepy.FUSE):  # type: ignore[misc]
        """mfusepy drops rename's flags and ftruncate's handle on libfuse3; we need both."""

        def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
            return int(self.operations.rename(old.decode(), new.decode(), flags) or 0)

        def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
            fh = fip.contents.fh if fip else None
            return int(self.operations.truncate(None if path is None else path.decode(), length, fh) or 0)

    return LazyOps(), LazyFUSE


def serve(backing: str, mountpoint: str) -> None:
    """The child process: mount, answer control lines on stdin, unmount on EOF."""
    os.environ.setdefault("FUSE_LIBRARY_NAME", "fuse3")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(0)  # the kernel already applied the caller's umask to every mode we get
    ops, fuse_cls = _make_ops(backing)
    out = sys.stdout
    sys.stdout = sys.stderr  # only control answers on the real stdout

    def answer(doc: dict[str, Any]) -> None:
        out.write(json.dumps(doc) + "\n")
        out.flush()

    def control() -> None:
        if not ops.ready.wait(30):
            answer({"error": "not mounted after 30 s"})
        else:
            answer({"ready": True, "pid": os.getpid()})
        for line in sys.stdin:
            try:
                cmd = json.loads(line)["cmd"]
                if cmd == "cut":
                    answer(ops.cut())
                elif cmd == "sync":
                    answer(ops.sync_all())
                elif cmd == "stats":
                    answer(ops.stats())
                else:
                    answer({"error": f"unknown command {cmd!r}"})
            except Exception as exc:  # answer, never die with the mount up
                log.exception("control command %r", line)
                answer({"error": repr(exc)})
        _unmount(mountpoint)  # the test process is gone (or closed us): leave nothing mounted

    threading.Thread(target=control, daemon=True, name="control").start()
    fuse_cls(
        ops,
        mountpoint,
        foreground=True,
        allow_other=True,
        default_permissions=True,
        hard_remove=True,
        entry_timeout=0,
        attr_timeout=0,
        negative_timeout=0,
        fsname="lazyfs",
        subtype="lazyfs",
    )


def _unmount(mountpoint: str) -> None:
    if subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True).returncode != 0:
        subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True)


# ----- the controller (in the test process) -----


class LazyFS:
    """A lazy mount of `backing` at `mountpoint`, served by a child process."""

    def __init__(self, backing: str, mountpoint: str, log_path: str | None = None) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.log_path = log_path or backing.rstrip("/") + ".log"
        self.proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self, timeout: float = 30) -> LazyFS:
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mountpoint, exist_ok=True)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), self.backing, self.mountpoint],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logf,
                text=True,
                env={**os.environ, "FUSE_LIBRARY_NAME": "fuse3"},
            )
        try:
            reply = self._read(timeout)
            if not reply.get("ready"):
                raise RuntimeError(f"lazyfs at {self.mountpoint}: {reply}")
            if not mounted(self.mountpoint):
                raise RuntimeError(f"lazyfs says ready but {self.mountpoint} is not a mount point")
        except BaseException:
            self.close()
            raise
        return self

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"lazyfs at {self.mountpoint} did not answer in {timeout}s: {self.log()[-2000:]}")
        return dict(json.loads(line))

    def command(self, cmd: str, timeout: float = 60) -> dict[str, Any]:
        with self._lock:
            assert self.proc is not None and self.proc.stdin is not None, "not started"
            self.proc.stdin.write(json.dumps({"cmd": cmd}) + "\n")
            self.proc.stdin.flush()
            reply = self._read(timeout)
        if "error" in reply:
            raise RuntimeError(f"lazyfs {cmd}: {reply['error']}")
        return reply

    def cut(self) -> dict[str, Any]:
        """Power cut: drop every unsynced write and undo every namespace change not made durable."""
        return self.command("cut")

    def sync(self) -> dict[str, Any]:
        """Make everything durable now, the kernel's dirty pages too (a checkpoint)."""
        self.syncfs()
        return self.command("sync")

    def stats(self) -> dict[str, Any]:
        return self.command("stats")

    def syncfs(self) -> None:
        """Push the kernel's dirty pages of this mount to the file system (as unsynced writes)."""
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(self.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
        try:
            libc.syncfs(fd)
        finally:
            os.close(fd)

    def log(self) -> str:
        with contextlib.suppress(FileNotFoundError), open(self.log_path, errors="replace") as f:
            return f.read()
        return ""

    def close(self, timeout: float = 15) -> None:
        """Unmount (lazily if something still holds it) and stop the server; leaves no mount."""
        if mounted(self.mountpoint):
            _unmount(self.mountpoint)
        if self.proc is not None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        deadline = time.monotonic() + timeout
        while mounted(self.mountpoint) and time.monotonic() < deadline:
            subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
            time.sleep(0.1)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
