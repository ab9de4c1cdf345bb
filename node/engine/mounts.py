"""mount(2)/umount2(2) through libc: an overlay mount costs a syscall, not a fork of mount(8)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from svc.errors import InvalidArgument, RuntimeFailure

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MNT_DETACH = 2
_PAGE = os.sysconf("SC_PAGE_SIZE")


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


def is_mounted(target: str) -> bool:
    target = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)
