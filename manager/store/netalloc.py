"""Overlay networks inside the store's apply: create and remove them, attach services (their
virtual IPs) and tasks (an address per network).

The rules that make an address never handed out twice, also across leader changes: allocation
happens in apply (the same log gives the same addresses on every manager); what is in use is
derived from the state itself (gateways, services' VIPs, tasks that are not terminal), so a
snapshot or a restore rebuilds it exactly; a task gives its addresses back when it ends.

The routing mesh: the first service that publishes a port in ingress mode makes the `ingress`
network (here, in apply, so every manager makes the same one; it stays, as Swarm's does), and
every task of such a service gets an address on it, from the lower half of its subnet (the upper
half is the nodes' sandboxes, ipam.sandbox_addrs). The name is reserved; it cannot be removed
while a service publishes through it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from svc import defaults
from svc.ports import is_host
from svc.v1 import cluster_pb2 as cpb

from .. import ipam
from .objects import FAILED, NetworkObj, ServiceObj, TaskObj, TaskStatusObj, is_terminal

NOT_FOUND, ALREADY_EXISTS, INVALID, CONFLICT = "NotFound", "AlreadyExists", "InvalidArgument", "Conflict"
Result = tuple[str, Any]


class AddressBook:
    """network id -> addresses in use (no prefix): derived state, never journalled."""

    def __init__(self) -> None:
        self.used: dict[str, set[str]] = {}

    def rebuild(self, networks: Iterable[NetworkObj], services: Iterable[ServiceObj], tasks: Iterable[TaskObj]) -> None:
        self.used = {n.id: {n.spec.gateway} for n in networks}
        for s in services:
            self.take(s.vips)
        for t in tasks:
            self.take(held(t))

    def take(self, pairs: Iterable[tuple[str, str]]) -> None:
        for nid, addr in pairs:
            self.used.setdefault(nid, set()).add(addr.split("/", 1)[0])

    def give(self, pairs: Iterable[tuple[str, str]]) -> None:
        for nid, addr in pairs:
            self.used.get(nid, set()).discard(addr.split("/", 1)[0])

    def allocate(self, net: NetworkObj) -> str | None:
        subnet = ipaddress.IPv4Network(net.spec.subnet)
        pool = next(subnet.subnets()) if is_ingress(net) else subnet  # the lower half: tasks (and VIPs)
        addr = ipam.next_addr(pool, self.used.setdefault(net.id, set()))
        if addr is None:
            return None
        self.used[net.id].add(addr)
        return ipam.with_prefix(addr, subnet)


def held(t: TaskObj) -> tuple[tuple[str, str], ...]:
    """The addresses a task holds: all of its own until it ends."""
    return () if is_terminal(t.state) else t.networks


def is_ingress(net: NetworkObj) -> bool:
    return net.spec.labels.get(ipam.INGRESS_LABEL) == "true"


def ingress_of(networks: dict[str, NetworkObj]) -> NetworkObj | None:
    return next((n for n in networks.values() if is_ingress(n)), None)


def publishes_ingress(spec: cpb.ServiceSpec) -> bool:
    return any(p.host_port and not is_host(p) for p in spec.task.ports)


def ensure_ingress(networks: dict[str, NetworkObj], book: AddressBook, seed: str) -> NetworkObj | str:
    """The ingress network, made if missing (its id derived from `seed`, so apply stays deterministic)."""
    found = ingress_of(networks)
    if found is not None:
        return found
    taken = [ipaddress.IPv4Network(n.spec.subnet) for n in networks.values()]
    subnet: ipaddress.IPv4Network | None = ipaddress.IPv4Network(ipam.INGRESS_SUBNET)
    if subnet is None or ipam.overlapping(subnet, taken) is not None:
        subnet = ipam.next_subnet(
            ipaddress.IPv4Network(defaults.OVERLAY_ADDR_POOL), defaults.OVERLAY_SUBNET_PREFIX, taken
        )
        if subnet is None:
            return "the address pool has no free subnet left for the ingress network"
    spec = cpb.NetworkSpec(
        name=ipam.INGRESS_NAME, driver="overlay", subnet=str(subnet), gateway=ipam.default_gateway(subnet)
    )
    spec.labels[ipam.INGRESS_LABEL] = "true"
    nid = hashlib.sha256(f"ingress/{seed}".encode()).hexdigest()[:25]
    net = NetworkObj(id=nid, spec=spec, vni=ipam.next_vni(n.vni for n in networks.values()))
    networks[nid] = net
    book.used[nid] = {spec.gateway}
    return net


def find(networks: dict[str, NetworkObj], ref: str) -> NetworkObj | None:
    if ref in networks:
        return networks[ref]
    by_name = [n for n in networks.values() if n.name == ref]
    if by_name:
        return by_name[0]
    by_prefix = [n for n in networks.values() if n.id.startswith(ref)]
    return by_prefix[0] if len(by_prefix) == 1 else None


def create(networks: dict[str, NetworkObj], book: AddressBook, op: dict[str, Any], seq: int) -> Result:
    spec = cpb.NetworkSpec.FromString(op["spec"])
    if spec.name == ipam.INGRESS_NAME or ipam.INGRESS_LABEL in spec.labels:
        return INVALID, f"network name {ipam.INGRESS_NAME} and label {ipam.INGRESS_LABEL} are the routing mesh's"
    if any(n.name == spec.name for n in networks.values()):
        return ALREADY_EXISTS, f"network {spec.name} already exists"
    if op["id"] in networks:
        return ALREADY_EXISTS, f"network id {op['id']} already exists"
    taken = {n.name: ipaddress.IPv4Network(n.spec.subnet) for n in networks.values()}
    if spec.subnet:
        subnet = ipaddress.IPv4Network(spec.subnet)
        clash = ipam.overlapping(subnet, taken.values())
        if clash is not None:
            other = next(name for name, net in taken.items() if net == clash)
            return INVALID, f"subnet {subnet} overlaps network {other} ({clash})"
    else:
        pool = ipaddress.IPv4Network(defaults.OVERLAY_ADDR_POOL)
        found = ipam.next_subnet(pool, defaults.OVERLAY_SUBNET_PREFIX, taken.values())
        if found is None:
            return INVALID, f"the address pool {pool} has no free /{defaults.OVERLAY_SUBNET_PREFIX} left"
        subnet = found
        spec.subnet = str(subnet)
    spec.gateway = spec.gateway or ipam.default_gateway(subnet)
    spec.driver = spec.driver or "overlay"
    net = NetworkObj(
        id=op["id"],
        spec=spec,
        vni=ipam.next_vni(n.vni for n in networks.values()),
        version=seq,
        created_at=op["ts"],
    )
    networks[net.id] = net
    book.used[net.id] = {spec.gateway}
    return "", net.id


def users(net_id: str, services: Iterable[ServiceObj], tasks: Iterable[TaskObj]) -> tuple[list[str], int]:
    """(names of the services attached, count of live tasks holding an address on it)."""
    names = sorted(s.name for s in services if any(a.target == net_id for a in s.spec.networks))
    live = sum(1 for t in tasks if any(nid == net_id for nid, _ in held(t)))
    return names, live


def remove(networks: dict[str, NetworkObj], book: AddressBook, op: dict[str, Any], services: Any, tasks: Any) -> Result:
    net = networks.get(op["id"])
    if net is None:
        return NOT_FOUND, f"no such network: {op['id']}"
    services = list(services)
    names, live = users(net.id, services, tasks)
    if is_ingress(net):
        names = sorted({*names, *(s.name for s in services if publishes_ingress(s.spec))})
    if names:
        return CONFLICT, f"network {net.name} is in use by service{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if live:
        return CONFLICT, f"network {net.name} is still in use by {live} task{'s' if live > 1 else ''} shutting down"
    del networks[net.id]
    book.used.pop(net.id, None)
    return "", net.id


def attach_service(
    networks: dict[str, NetworkObj], book: AddressBook, spec: cpb.ServiceSpec, old: ServiceObj | None
) -> tuple[str, str] | tuple[cpb.ServiceSpec, tuple[tuple[str, str], ...]]:
    """The spec with its network targets as ids, and its VIPs (kept, released, allocated); or an error."""
    seen = set()
    for a in spec.networks:
        net = find(networks, a.target)
        if net is None:
            return NOT_FOUND, f"network {a.target} not found"
        if net.id in seen:
            return INVALID, f"network {net.name} is given twice"
        seen.add(net.id)
        a.target = net.id
    mode = spec.endpoint_mode or "vip"
    made_ingress = ""
    if publishes_ingress(spec):
        if mode == "dnsrr":
            return INVALID, "a service in endpoint mode dnsrr cannot publish through the routing mesh (use mode=host)"
        had = ingress_of(networks)
        ingress = ensure_ingress(networks, book, spec.name)
        if isinstance(ingress, str):
            return INVALID, ingress
        made_ingress = "" if had else ingress.id
    want = [a.target for a in spec.networks] if mode == "vip" else []
    kept = tuple(v for v in (old.vips if old else ()) if v[0] in want)
    book.give(v for v in (old.vips if old else ()) if v not in kept)
    vips = list(kept)
    for nid in want:
        if any(v[0] == nid for v in kept):
            continue
        addr = book.allocate(networks[nid])
        if addr is None:
            book.give(vips[len(kept) :])
            book.take(old.vips if old else ())  # undo: the update fails as a whole
            if made_ingress:
                del networks[made_ingress]
                book.used.pop(made_ingress, None)
            return INVALID, f"network {networks[nid].name} has no free address for the service's virtual IP"
        vips.append((nid, addr))
    return spec, tuple(vips)


def attach_task(networks: dict[str, NetworkObj], book: AddressBook, task: TaskObj, svc: ServiceObj | None) -> TaskObj:
    """The new task with an address on each of its service's networks, or failed if one is full."""
    if svc is None or task.networks:
        return task
    targets = [a.target for a in svc.spec.networks]
    ingress = ingress_of(networks) if publishes_ingress(svc.spec) else None
    if ingress is not None:
        targets.append(ingress.id)  # last: the task's own networks keep eth1, eth2...
    if not targets:
        return task
    got: list[tuple[str, str]] = []
    for target in targets:
        net = networks.get(target)
        if net is None:
            continue
        addr = book.allocate(net)
        if addr is None:
            book.give(got)
            status = TaskStatusObj(
                state=FAILED, timestamp=task.created_at, message="no address", err=f"network {net.name} is full"
            )
            return replace(task, status=status)
        got.append((net.id, addr))
    return replace(task, networks=tuple(got))
