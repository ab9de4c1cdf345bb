"""pyroute2's IPRoute bound to a network namespace, without forking.

Rule: never `IPRoute(netns=...)`: pyroute2 forks a child to open the socket there, and a
process that runs gRPC must not fork. Instead a short-lived thread enters the namespace
(setns affects only the calling thread), opens the netlink socket and exits; the socket stays
bound to that namespace and IPRoute adopts it by file descriptor. Each `iproute()` is used on
the thread that opened it and closed at the end of the `with`.
"""

from __future__ import annotations

import _socket
import contextlib
import ctypes
import ctypes.util
import logging
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

from svc.errors import RuntimeFailure

CLONE_NEWNET = 0x40000000
NETLINK_NETFILTER = 12  # conntrack (not in Python's socket module)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def netlink_socket_in(path: str) -> socket.socket:
    """A NETLINK_ROUTE socket in the namespace pinned at `path`."""
    return socket_in(path, socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)


def socket_in(path: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket in the namespace pinned at `path` (it holds the namespace while it is open)."""
    out: list[socket.socket] = []
    error: list[str] = []

    def enter_and_open() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            error.append(f"opening {path}: {exc.strerror}")
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                error.append(f"entering {path}: {os.strerror(ctypes.get_errno())}")
                return
        finally:
            os.close(fd)
        try:
            out.append(socket.socket(family, kind, proto))
        except OSError as exc:
            error.append(f"socket in {path}: {exc.strerror}")

    t = threading.Thread(target=enter_and_open, name="netns-socket")
    t.start()
    t.join()
    if error:
        raise RuntimeFailure(error[0])
    return out[0]


def _real_inet_ntop() -> None:
    """Undo pysyncobj's replacement of socket.inet_ntop (0.3.17 installs its Windows version on every
    platform, where it always raises): pyroute2 decodes addresses with it, and binds it at import."""
    real = _socket.inet_ntop
    if socket.inet_ntop is not real:
        socket.inet_ntop = real
    import pyroute2.netlink
    import pyroute2.netlink.rtnl.rtmsg

    # pyroute2 logs every netlink message at DEBUG, and warns about attributes it cannot decode:
    # our own errors say what failed.
    logging.getLogger("pyroute2").setLevel(logging.ERROR)
    for module in (pyroute2.netlink, pyroute2.netlink.rtnl.rtmsg):
        if getattr(module, "inet_ntop", real) is not real:
            module.inet_ntop = real  # type: ignore[attr-defined]


@contextlib.contextmanager
def iproute(path: str | None = None) -> Iterator[Any]:
    """IPRoute in the namespace at `path`, or in this process's own when None."""
    _real_inet_ntop()
    from pyroute2 import IPRoute

    if path is None:
        ipr = IPRoute()
    else:
        sock = netlink_socket_in(path)
        ipr = IPRoute(fileno=sock.detach())
    try:
        yield ipr
    finally:
        ipr.close()


@contextlib.contextmanager
def netlink_errors(what: str) -> Iterator[None]:
    """Netlink and OS errors as one-line RuntimeFailures naming the step."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        yield
    except NetlinkError as exc:
        raise RuntimeFailure(f"{what}: {os.strerror(exc.code) if exc.code else exc}") from None
    except OSError as exc:
        raise RuntimeFailure(f"{what}: {exc.strerror or exc}") from None


def link_index(ipr: Any, name: str) -> int | None:
    """The index of the link called `name` where `ipr` looks, or None."""
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


@contextlib.contextmanager
def ns_fd(path: str) -> Iterator[int]:
    """An open descriptor of the namespace at `path` (to move a link there)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise RuntimeFailure(f"opening {path}: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def sysctl_in(path: str | None, key: str, value: str) -> None:
    """Write a net sysctl (`net.ipv4.ip_forward`) in the namespace at `path` (this process's own when
    None): /proc/sys/net is the writer's namespace's, so a short-lived thread enters it first."""
    error: list[str] = []
    file = "/proc/sys/" + key.replace(".", "/")

    def enter_and_write() -> None:
        if path is not None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                error.append(f"opening {path}: {exc.strerror}")
                return
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    error.append(f"entering {path}: {os.strerror(ctypes.get_errno())}")
                    return
            finally:
                os.close(fd)
        try:
            with open(file, "w") as f:
                f.write(value)
        except OSError as exc:
            error.append(f"setting {key}: {exc.strerror}")

    t = threading.Thread(target=enter_and_write, name="netns-sysctl")
    t.start()
    t.join()
    if error:
        raise RuntimeFailure(error[0])
