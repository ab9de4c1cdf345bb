"""Addresses as the daemons take them: HOST:PORT parsing and this host's outward address."""

from __future__ import annotations

import errno
import socket

from svc.errors import InvalidArgument, Unavailable


def split_addr(addr: str, what: str = "address") -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid {what} {addr!r}: use HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def local_ip() -> str:
    """The address this host uses to reach others (a UDP connect sends no packet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def check_bindable(addr: str, what: str) -> None:
    """Refuse, in one line, an address this process cannot listen on: in use, or not on this host.

    Probed with SO_REUSEADDR, as servers bind, so a port in TIME_WAIT after a restart passes.
    """
    host, port = split_addr(addr, what)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Unavailable(f"{what} {addr} is in use") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise Unavailable(f"{what} {addr}: {host} is not an address of this host") from None
            raise Unavailable(f"{what} {addr}: {exc.strerror}") from None
