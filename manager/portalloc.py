"""Published ports of services (`svc create -p`): their mode, the ports the managers pick, and the
ports no two services may share. Pure, no I/O.

Rules: a service's port publishes in ingress mode (the routing mesh) unless it says host; the
managers write the mode down, so every later reader sees it. A port with container_port set and
host_port 0 is published on a port the cluster picks, as Swarm does: the lowest port of
PUBLISHED_PORT_RANGE that no other service publishes with that protocol; an update keeps the port
a mapping of the same container port and protocol had, so `svc update` never moves a published
port. An ingress port answers on every node, so no other service may publish the same port and
protocol, in either mode (host-mode ports of different services may share a number: the scheduler
keeps them on different nodes).
"""

from __future__ import annotations

from collections.abc import Iterable

from svc import defaults
from svc.errors import InvalidArgument
from svc.ports import INGRESS, is_host
from svc.v1 import cluster_pb2 as cpb


def assign(spec: cpb.ServiceSpec, others: Iterable[cpb.ServiceSpec], current: cpb.ServiceSpec | None = None) -> None:
    """Set each port's mode and fill in host_port where it is 0, in place; refuse a port taken."""
    others = list(others)
    for p in spec.task.ports:
        p.publish_mode = p.publish_mode or INGRESS  # the CLI's `-p 8080:80`: Swarm's default
        p.protocol = p.protocol or "tcp"
    wanted = [p for p in spec.task.ports if not p.host_port]
    if wanted:
        _pick(spec, wanted, others, current)
    _refuse_shared(spec, others)


def _pick(spec: cpb.ServiceSpec, wanted: list, others: list[cpb.ServiceSpec], current: cpb.ServiceSpec | None) -> None:
    used = {(p.host_port, p.protocol or "tcp") for s in others for p in s.task.ports if p.host_port}
    used |= {(p.host_port, p.protocol or "tcp") for p in spec.task.ports if p.host_port}
    before = {(p.container_port, p.protocol or "tcp"): p.host_port for p in (current.task.ports if current else [])}
    low, high = defaults.PUBLISHED_PORT_RANGE
    for p in wanted:
        proto = p.protocol or "tcp"
        kept = before.get((p.container_port, proto), 0)
        if low <= kept <= high and (kept, proto) not in used:
            p.host_port = kept
        else:
            free = next((n for n in range(low, high + 1) if (n, proto) not in used), 0)
            if not free:
                raise InvalidArgument(f"no free published port left in {low}-{high}/{proto}")
            p.host_port = free
        used.add((p.host_port, proto))


def _refuse_shared(spec: cpb.ServiceSpec, others: list[cpb.ServiceSpec]) -> None:
    taken: dict[tuple[int, str], tuple[str, bool]] = {}  # (port, proto) -> (service, in ingress mode)
    for s in others:
        for p in s.task.ports:
            if p.host_port:
                key = (p.host_port, p.protocol or "tcp")
                if key not in taken or not is_host(p):
                    taken[key] = (s.name, not is_host(p))
    for p in spec.task.ports:
        key = (p.host_port, p.protocol or "tcp")
        if key not in taken:
            continue
        name, ingress = taken[key]
        if ingress or not is_host(p):
            how = "through the routing mesh" if ingress else "in host mode"
            raise InvalidArgument(f"port {key[0]}/{key[1]} is already published by service {name} ({how})")
