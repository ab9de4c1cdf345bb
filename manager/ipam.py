"""Address management for overlay networks (pure: what is taken in, the next free thing out).

Runs inside the store's apply, so it must be deterministic: the lowest free VXLAN id, the first
free subnet of the pool in address order, the lowest free address of a subnet. A network's first
host address is its gateway unless one is given; the network and broadcast addresses are never
handed out. Swarm's defaults: pool 10.0.0.0/8 cut into /24s, VXLAN ids from 4096.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from svc import defaults

IPv4Net = ipaddress.IPv4Network


def next_vni(used: Iterable[int]) -> int:
    taken = set(used)
    vni = defaults.OVERLAY_VNI_BASE
    while vni in taken:
        vni += 1
    return vni


def overlapping(subnet: IPv4Net, others: Iterable[IPv4Net]) -> IPv4Net | None:
    for o in others:
        if subnet.overlaps(o):
            return o
    return None


def next_subnet(pool: IPv4Net, prefix: int, taken: Iterable[IPv4Net]) -> IPv4Net | None:
    """The first /prefix of `pool` that overlaps nothing taken, or None if the pool is full."""
    used = sorted(set(taken), key=lambda n: (int(n.network_address), n.prefixlen))
    step = 1 << (32 - prefix)
    cand = int(pool.network_address)
    end = int(pool.broadcast_address)
    while cand + step - 1 <= end:
        net = ipaddress.IPv4Network((cand, prefix))
        clash = overlapping(net, used)
        if clash is None:
            return net
        # jump past the clash (aligned to our size)
        after = int(clash.broadcast_address) + 1
        cand = max(cand + step, (after + step - 1) // step * step)
    return None


def default_gateway(subnet: IPv4Net) -> str:
    return str(subnet.network_address + 1)


def next_addr(subnet: IPv4Net, used: set[str]) -> str | None:
    """The lowest free host address of `subnet` (no prefix), or None when the subnet is full."""
    for host in subnet.hosts():
        text = str(host)
        if text not in used:
            return text
    return None


def with_prefix(addr: str, subnet: IPv4Net) -> str:
    return f"{addr}/{subnet.prefixlen}"


def mac_for(addr: str) -> str:
    """Docker's endpoint MAC: 02:42 and the IPv4 address's four bytes."""
    ip = ipaddress.IPv4Address(addr.split("/", 1)[0])
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


# ----- the routing mesh's network -----

INGRESS_NAME = "ingress"  # reserved: only the managers make it
INGRESS_LABEL = "svc.network.ingress"
INGRESS_SUBNET = "10.255.0.0/16"  # Docker's classic ingress subnet, when nothing overlaps it


def sandbox_addrs(subnet: IPv4Net, node_ids: Iterable[str]) -> dict[str, str]:
    """node id -> its sandbox address on the ingress network (with prefix), in the subnet's upper
    half (tasks and VIPs are handed out lowest-first, from the bottom). Derived, never stored: a
    node's slot is a hash of its id, probing upwards past a slot an earlier id (in sorted order)
    holds: every manager derives the same addresses, and a node keeps its own as others come and
    go (unless it had probed past a node that left)."""
    import hashlib

    hosts = subnet.num_addresses // 2 - 2  # the upper half, less its last (broadcast) and first
    base = int(subnet.network_address) + subnet.num_addresses // 2 + 1
    taken: set[int] = set()
    out = {}
    for nid in sorted(set(node_ids)):
        slot = int.from_bytes(hashlib.sha256(nid.encode()).digest()[:4], "big") % hosts
        while slot in taken:
            slot = (slot + 1) % hosts
        taken.add(slot)
        out[nid] = with_prefix(str(ipaddress.IPv4Address(base + slot)), subnet)
    return out
