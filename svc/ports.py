"""`-p` specs as Docker spells them: `8080:80`, `127.0.0.1:8080:80`, `8080:80/udp`, `80` (a service)."""

from __future__ import annotations

import ipaddress

from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidArgument(f"invalid port spec {spec!r}: ports are numbers from 1 to 65535")
    return int(text)


def parse_publish(spec: str, pick: bool = False) -> pb.PortMapping:
    """`HOST:CONTAINER` forms; with `pick` (a service) `CONTAINER` alone too: host_port 0, which the
    managers replace with a port of PUBLISHED_PORT_RANGE, as Swarm does."""
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise InvalidArgument(f"invalid port spec {spec!r}: protocol must be tcp or udp")
    parts = body.rsplit(":", 2)
    if len(parts) == 1 and pick:
        return pb.PortMapping(container_port=_port(parts[0], spec), protocol=proto)
    if len(parts) == 1:
        raise InvalidArgument(f"invalid port spec {spec!r}: publish needs HOST_PORT:CONTAINER_PORT, e.g. 8080:80")
    host_ip = ""
    if len(parts) == 3:
        host_ip = parts[0].strip("[]")
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid port spec {spec!r}: {host_ip!r} is not an IP address") from None
    return pb.PortMapping(
        host_ip=host_ip, host_port=_port(parts[-2], spec), container_port=_port(parts[-1], spec), protocol=proto
    )


def format_ports(ports: list[pb.PortMapping]) -> str:
    out = []
    for p in ports:
        host = f"{p.host_ip or '0.0.0.0'}:{p.host_port}->" if p.host_port else ""
        out.append(f"{host}{p.container_port}/{p.protocol or 'tcp'}")
    return ", ".join(out)
