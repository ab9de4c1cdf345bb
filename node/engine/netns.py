"""Network namespaces made in-process, pinned in svc's own private directory.

Rule: svc pins a namespace by bind-mounting it on a file in `<engine run dir>/netns`, never in
/run/netns, and every mount(2)/umount2(2) result is checked. Equivalent to `ip netns add NAME`
plus the CNI loopback plugin, without two forks per container: `unshare` in a short-lived thread
(which exits, taking nothing else into the namespace), bind-mount, lo up.

Why not /run/netns: that directory is shared with every tool that runs `ip netns add`, and
iproute2 then makes it a bind mount of itself (recursive, shared). The bind copies the mounts
already there and hides the originals beneath it: unmounting a namespace then reaches only the
copy, unlink fails with EBUSY and the namespace lives on. svc's directory (`PrivateDir`) is not
touched by other tools and is unbindable, so nothing propagates into or out of it and another
tool's recursive bind of /run cannot copy (and so pin) its mounts. The cost: `ip netns` does
not list svc's namespaces; enter one with `nsenter --net=<run dir>/netns/svc-<id12>`.

Versions before this one pinned namespaces in /run/netns (LEGACY_DIR): `locate` and `delete`
look there too, so a container started by one is still released.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
import threading

from svc.errors import RuntimeFailure

from .mounts import MNT_DETACH, MS_BIND, sys_mount, sys_umount2
from .nsdir import PrivateDir

LEGACY_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# Bind mounts stack; a path can carry several (a tool that bound the same namespace again).
# Unmounting stops at the first "not a mount point", bounded so a kernel surprise cannot spin.
_MAX_STACKED = 16

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]


def _lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


class Namespaces:
    """The network namespaces of one engine, by name, in `directory` (and, when old, in LEGACY_DIR)."""

    def __init__(self, directory: str, legacy_dirs: tuple[str, ...] = (LEGACY_DIR,)) -> None:
        self.dir = PrivateDir(directory)
        self.legacy_dirs = legacy_dirs

    def path_of(self, name: str) -> str:
        return os.path.join(self.dir.path, name)

    def _paths(self, name: str) -> list[str]:
        return [self.path_of(name), *(os.path.join(d, name) for d in self.legacy_dirs)]

    def locate(self, name: str) -> str | None:
        """Where the namespace is pinned: svc's directory, or an old version's /run/netns; None if nowhere."""
        return next((p for p in self._paths(name) if os.path.exists(p)), None)

    def exists(self, name: str) -> bool:
        return self.locate(name) is not None

    def create(self, name: str) -> str:
        """A new network namespace with lo up, pinned at <directory>/NAME."""
        target = self.path_of(name)
        with self.dir.holding():
            try:
                _remove(target)  # a leftover of this container's last run whose removal failed then
                os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
            except (OSError, RuntimeFailure) as exc:
                raise RuntimeFailure(f"network namespace {name}: {exc}") from None
        error: list[str] = []

        def make() -> None:
            if _libc.unshare(CLONE_NEWNET) != 0:
                error.append(f"unshare: {os.strerror(ctypes.get_errno())}")
                return
            try:
                _lo_up()
            except OSError as exc:
                error.append(f"bringing lo up: {exc}")
                return
            source = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            err = sys_mount(source, target, None, MS_BIND)
            if err:
                error.append(f"bind-mounting the namespace on {target}: {os.strerror(err)}")

        worker = threading.Thread(target=make, name="netns-create")
        worker.start()
        worker.join()
        if error:
            try:
                self.delete(name)
            except RuntimeFailure as exc:
                error.append(f"and cleaning up: {exc}")
            raise RuntimeFailure(f"network namespace {name}: {'; '.join(error)}")
        return target

    def delete(self, name: str) -> None:
        """Unpin and remove the namespace wherever it is; it disappears with its last user.

        Missing is fine; any other failure is raised, naming the namespace and the path.
        """
        problems = []
        for path in self._paths(name):
            try:
                _remove(path)
            except RuntimeFailure as exc:
                problems.append(str(exc))
        try:
            self.dir.release_if_empty()
        except RuntimeFailure as exc:
            problems.append(str(exc))
        if problems:
            raise RuntimeFailure(f"network namespace {name}: {'; '.join(problems)}")

    def close(self) -> None:
        """The engine stops: give the directory's mount back if no namespace is left in it."""
        self.dir.release_if_empty()


def _remove(path: str) -> None:
    """Unmount every bind at `path`, then unlink it. Not mounted (EINVAL) and missing are fine."""
    for _ in range(_MAX_STACKED):
        # MNT_DETACH: a CNI plugin or `nsenter` holding the file open must not make this fail.
        err = sys_umount2(path, MNT_DETACH)
        if err in (errno.EINVAL, errno.ENOENT):
            break
        if err:
            raise RuntimeFailure(f"unmounting {path}: {os.strerror(err)}")
    else:
        raise RuntimeFailure(f"unmounting {path}: still mounted after {_MAX_STACKED} unmounts")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EBUSY:
            hint = (
                " (a mount of it is hidden beneath a later bind mount of its directory, as `ip netns add`"
                " makes of /run/netns; it cannot be reached by path and goes at the next reboot)"
            )
        raise RuntimeFailure(f"removing {path}: {exc.strerror}{hint}") from None
