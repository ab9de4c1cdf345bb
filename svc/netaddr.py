"""Addresses as the daemons take them: HOST:PORT parsing and this host's outward address."""

from __future__ import annotations

import socket

from svc.errors import InvalidArgument


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
