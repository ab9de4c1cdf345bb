"""Network namespaces made in-process: unshare in a short-lived thread, bind-mount, lo up.

Equivalent to `ip netns add NAME` plus the CNI loopback plugin, without two forks per
container. The namespace is pinned by a bind mount at /run/netns/NAME (so `ip netns` lists
it); the thread that made it exits, taking nothing else into the new namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import threading

from svc.errors import RuntimeFailure

from .mounts import MNT_DETACH

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def path_of(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def _lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def create(name: str) -> str:
    """A new network namespace with lo up, pinned at /run/netns/NAME."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = path_of(name)
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
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
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(source, target.encode(), None, MS_BIND, None) != 0:
            error.append(f"bind-mounting the namespace: {os.strerror(ctypes.get_errno())}")

    worker = threading.Thread(target=make, name="netns-create")
    worker.start()
    worker.join()
    if error:
        delete(name)
        raise RuntimeFailure(f"network namespace {name}: {error[0]}")
    return target


def delete(name: str) -> None:
    """Unpin and remove the namespace; it disappears with its last user. Missing is fine."""
    target = path_of(name)
    _libc.umount2(target.encode(), MNT_DETACH)
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass


def exists(name: str) -> bool:
    return os.path.exists(path_of(name))
