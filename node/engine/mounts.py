"""mount(2)/umount2(2) through libc: an overlay mount costs a syscall, not a fork of mount(8)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

from svc.errors import InvalidArgument, RuntimeFailure

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MNT_DETACH = 2
MS_BIND = 4096
MS_UNBINDABLE = 1 << 17
_PAGE = os.sysconf("SC_PAGE_SIZE")
_OCTAL = re.compile(r"\\([0-7]{3})")


def sys_mount(source: str | None, target: str, fstype: str | None, flags: int) -> int:
    """mount(2): 0, or the errno. Callers decide which errors are fine; none is ignored here."""
    if _libc.mount(_b(source), target.encode(), _b(fstype), flags, None) == 0:
        return 0
    return ctypes.get_errno()


def sys_umount2(target: str, flags: int) -> int:
    """umount2(2): 0, or the errno."""
    if _libc.umount2(target.encode(), flags) == 0:
        return 0
    return ctypes.get_errno()


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def mount_overlay(lowers: list[str], upper: str, work: str, target: str) -> None:
    """Mount an overlay at `target`; `lowers` top first, as overlayfs wants them."""
    for path in (*lowers, upper, work):
        if ":" in path or "," in path:
            raise InvalidArgument(f"overlay path {path!r} contains ':' or ','")
    options = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    if len(options) >= _PAGE:
        raise InvalidArgument(f"image has too many layers ({len(lowers)}) for one overlay mount")
    if _libc.mount(b"overlay", target.encode(), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"mount overlay on {target}: {os.strerror(err)}")


MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8


def mount_tmpfs(target: str, options: str) -> None:
    """A tmpfs at `target` (nosuid, nodev, noexec): memory, never the disk."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(b"tmpfs", target.encode(), b"tmpfs", flags, options.encode()) != 0:
        err = ctypes.get_errno()
        raise RuntimeFailure(f"mount tmpfs on {target}: {os.strerror(err)}")


def unmount(target: str) -> None:
    """Unmount `target` if mounted; lazily if it is busy. Missing mounts are fine."""
    if _libc.umount2(target.encode(), 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
        return
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):
            raise RuntimeFailure(f"unmount {target}: {os.strerror(err)}")


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, in mount order (stacked mounts appear once each)."""
    with open("/proc/self/mountinfo") as f:
        # mountinfo escapes space, tab, newline and backslash in paths as octal (\040 ...)
        return [_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4]) for line in f]


def is_mounted(target: str) -> bool:
    target = os.path.realpath(target)
    return target in mount_points()


def mounted_beneath(directory: str) -> list[str]:
    """Mount points strictly inside `directory` (not the directory itself)."""
    prefix = os.path.realpath(directory).rstrip("/") + "/"
    return [m for m in mount_points() if m.startswith(prefix)]
