"""`-p` specs as Docker spells them: `8080:80`, `127.0.0.1:8080:80`, `8080:80/udp`, `80` (a service), and
a service's long form `mode=host,target=80,published=8080,protocol=udp`.

Rule: a service's port publishes in ingress mode (the routing mesh, every node answers) unless it
says `mode=host`; the managers write the mode down (manager/portalloc.py), and a port not marked
ingress is a host port everywhere (`is_host`, the one test of it on both sides).
"""

from __future__ import annotations

import ipaddress

from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidArgument(f"invalid port spec {spec!r}: ports are numbers from 1 to 65535")
    return int(text)


INGRESS, HOST = "ingress", "host"


def is_host(p: pb.PortMapping) -> bool:
    """A port published only on the node that runs its task: anything not marked ingress (the
    managers mark a service's ports when it is created or updated; a container's are never)."""
    return p.publish_mode != INGRESS


def parse_long(spec: str) -> pb.PortMapping:
    """`mode=ingress|host,target=C[,published=H][,protocol=tcp|udp]` (docker's --publish long form)."""
    out = pb.PortMapping(protocol="tcp", publish_mode=INGRESS)
    for item in spec.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise InvalidArgument(f"invalid port spec {spec!r}: {item!r} is not KEY=VALUE")
        if key == "mode":
            if value not in (INGRESS, HOST):
                raise InvalidArgument(f"invalid port spec {spec!r}: mode must be ingress or host")
            out.publish_mode = value
        elif key == "target":
            out.container_port = _port(value, spec)
        elif key == "published":
            out.host_port = _port(value, spec)
        elif key == "protocol":
            if value not in ("tcp", "udp"):
                raise InvalidArgument(f"invalid port spec {spec!r}: protocol must be tcp or udp")
            out.protocol = value
        else:
            raise InvalidArgument(
                f"invalid port spec {spec!r}: unknown key {key!r} (mode, target, published, protocol)"
            )
    if not out.container_port:
        raise InvalidArgument(f"invalid port spec {spec!r}: target is required")
    return out


def parse_publish(spec: str, pick: bool = False) -> pb.PortMapping:
    """`HOST:CONTAINER` forms; with `pick` (a service) `CONTAINER` alone too: host_port 0, which the
    managers replace with a port of PUBLISHED_PORT_RANGE, as Swarm does; and the long form."""
    if pick and "=" in spec:
        return parse_long(spec)
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
        if p.host_port and p.publish_mode == INGRESS:
            host = f"*:{p.host_port}->"  # the routing mesh: every node's every address
        out.append(f"{host}{p.container_port}/{p.protocol or 'tcp'}")
    return ", ".join(out)
