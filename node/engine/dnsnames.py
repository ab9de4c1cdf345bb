"""The names a container on overlay networks can resolve, from the managers' peer sets.

Rule: pure. Per network, each service answers to its name, `NAME.NETWORK` and its aliases (and
`ALIAS.NETWORK`): the virtual IP, or its tasks' addresses in dnsrr mode (or when it has no VIP);
`tasks.NAME` (and `tasks.NAME.NETWORK`) always to the tasks' addresses. A container sees only the
networks it is attached to; when two of them know a name, the first attachment's answer wins
(Docker's order). Names are case-insensitive and may end with a dot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from svc.v1 import dispatcher_pb2 as dpb

Table = dict[str, tuple[str, ...]]  # name (lower case, no trailing dot) -> IPv4 addresses


def _ip(addr: str) -> str:
    try:
        return str(ipaddress.ip_interface(addr).ip)
    except ValueError:
        return ""


def network_table(net: dpb.NetworkPeers) -> Table:
    table: Table = {}
    netname = net.name.lower()
    for s in net.services:
        tasks = tuple(sorted({a for a in (_ip(x) for x in s.task_addrs) if a}, key=ipaddress.ip_address))
        vip = _ip(s.vip) if s.endpoint_mode != "dnsrr" else ""
        answer = (vip,) if vip else tasks
        for name in (s.name, *s.aliases):
            n = name.lower()
            if not n:
                continue
            table.setdefault(n, answer)
            if netname:
                table.setdefault(f"{n}.{netname}", answer)
        if s.name:
            table.setdefault(f"tasks.{s.name.lower()}", tasks)
            if netname:
                table.setdefault(f"tasks.{s.name.lower()}.{netname}", tasks)
    return table


def container_table(networks: Mapping[str, dpb.NetworkPeers], attached: Iterable[str]) -> Table:
    """The names for a container attached to `attached` (network ids, in attachment order)."""
    table: Table = {}
    for nid in attached:
        net = networks.get(nid)
        if net is None:
            continue
        for name, addrs in network_table(net).items():
            table.setdefault(name, addrs)
    return table


def lookup(table: Table, qname: str) -> tuple[str, ...] | None:
    """The addresses of `qname`, () for a known name without any (no task runs), None if unknown."""
    return table.get(qname.rstrip(".").lower())
