"""What an overlay network's VXLAN device should hold on this node, and the change to get there.

Rule: pure. The managers send each network's whole peer set; `wanted` turns it into the static
forwarding entries (MAC -> remote VTEP) and permanent neighbour entries (IP -> MAC) of every
*remote* endpoint, and `diff` compares that with what a dump of the device found. Reconciling
against the whole set (never applying deltas) is what keeps a lost update from leaving a stale
entry: whatever is programmed but not wanted is removed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from svc.errors import InvalidArgument

VNI_MIN, VNI_MAX = 1, (1 << 24) - 1


@dataclass(frozen=True, order=True)
class Fdb:
    mac: str
    vtep: str


@dataclass(frozen=True, order=True)
class Neigh:
    ip: str
    mac: str


@dataclass(frozen=True)
class Entries:
    fdb: frozenset[Fdb] = frozenset()
    neigh: frozenset[Neigh] = frozenset()


@dataclass(frozen=True)
class Change:
    add_fdb: tuple[Fdb, ...] = ()
    del_fdb: tuple[Fdb, ...] = ()
    add_neigh: tuple[Neigh, ...] = ()
    del_neigh: tuple[Neigh, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.add_fdb or self.del_fdb or self.add_neigh or self.del_neigh)


def mac_of(addr: str) -> str:
    """Docker's endpoint MAC: 02:42 and the four bytes of the IPv4 address (a CIDR is accepted)."""
    try:
        ip = ipaddress.ip_interface(addr).ip
    except ValueError:
        raise InvalidArgument(f"invalid endpoint address {addr!r}") from None
    if ip.version != 4:
        raise InvalidArgument(f"overlay endpoint {addr}: only IPv4 is supported")
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def host_ip(addr: str) -> str:
    """10.0.1.5/24 -> 10.0.1.5."""
    try:
        return str(ipaddress.ip_interface(addr).ip)
    except ValueError:
        raise InvalidArgument(f"invalid endpoint address {addr!r}") from None


def check_vni(vni: int) -> int:
    if not VNI_MIN <= vni <= VNI_MAX:
        raise InvalidArgument(f"VXLAN id {vni} out of range {VNI_MIN}-{VNI_MAX}")
    return vni


def wanted(endpoints: Iterable[tuple[str, str, str]], vtep: str, local_ips: Iterable[str]) -> Entries:
    """Entries for the remote endpoints among (addr CIDR, mac or "", node_addr).

    An endpoint is local, so not programmed, when its VTEP is this node's (`vtep`, "" if unknown)
    or its address belongs to a container on this node (`local_ips`). An endpoint without a VTEP
    cannot be reached and is skipped. The MAC is derived from the address when not given.
    """
    mine = set(local_ips)
    fdb, neigh = set(), set()
    for addr, mac, node_addr in endpoints:
        ip = host_ip(addr)
        if not node_addr or (vtep and node_addr == vtep) or ip in mine:
            continue
        m = (mac or mac_of(ip)).lower()
        fdb.add(Fdb(m, node_addr))
        neigh.add(Neigh(ip, m))
    return Entries(frozenset(fdb), frozenset(neigh))


def diff(current: Entries, want: Entries) -> Change:
    """What to add and delete so that `current` becomes `want`.

    A MAC whose VTEP changed (a task's address reused on another node) is deleted and re-added;
    deletions come first when applied, so the device never holds two entries for one MAC or IP.
    """
    return Change(
        add_fdb=tuple(sorted(want.fdb - current.fdb)),
        del_fdb=tuple(sorted(current.fdb - want.fdb)),
        add_neigh=tuple(sorted(want.neigh - current.neigh)),
        del_neigh=tuple(sorted(current.neigh - want.neigh)),
    )
