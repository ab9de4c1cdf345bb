"""Published ports the managers pick (`svc create -p 80`): pure, no I/O.

Rule: in a service spec a port with container_port set and host_port 0 is to be published on a port
the cluster picks, as Swarm does: the lowest port of PUBLISHED_PORT_RANGE that no other service
publishes with that protocol; an update keeps the port a mapping of the same container port and
protocol had, so `svc update` never moves a published port.
"""

from __future__ import annotations

from collections.abc import Iterable

from svc import defaults
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb


def assign(spec: cpb.ServiceSpec, others: Iterable[cpb.ServiceSpec], current: cpb.ServiceSpec | None = None) -> None:
    """Fill in host_port where it is 0, in place."""
    wanted = [p for p in spec.task.ports if not p.host_port]
    if not wanted:
        return
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
