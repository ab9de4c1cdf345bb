"""What each node must program for its overlay networks (pure: a snapshot in, peer sets out).

A node gets the whole picture of every network one of its tasks is on: every live endpoint (the
task's address, its MAC, the VTEP of its node) and, for DNS and load balancing, each attached
service's VIP and the addresses of its running tasks. Whole sets, so the node reconciles instead
of applying deltas: a lost or reordered message cannot leave a stale entry behind.
"""

from __future__ import annotations

import collections

from svc.v1 import dispatcher_pb2 as dpb

from . import ipam
from .store.objects import RUNNING, is_terminal
from .store.state import Snapshot


def peer_sets(snap: Snapshot, node_ids: set[str]) -> dict[str, list[dpb.NetworkPeers]]:
    """node id -> its networks' peer sets (an empty list for a node on no network)."""
    endpoints: dict[str, list[dpb.NetworkEndpoint]] = collections.defaultdict(list)
    on_node: dict[str, set[str]] = collections.defaultdict(set)
    running: dict[tuple[str, str], list[str]] = collections.defaultdict(list)  # (service, network) -> addrs
    for t in snap.tasks.values():
        if not t.networks or not t.node_id or is_terminal(t.state):
            continue
        node = snap.nodes.get(t.node_id)
        vtep = node.description.addr if node else ""
        for nid, addr in t.networks:
            endpoints[nid].append(
                dpb.NetworkEndpoint(task_id=t.id, addr=addr, mac=ipam.mac_for(addr), node_addr=vtep, node_id=t.node_id)
            )
            on_node[t.node_id].add(nid)
            if t.state == RUNNING and t.desired_state == RUNNING and t.status.health not in ("starting", "unhealthy"):
                running[(t.service_id, nid)].append(addr.split("/", 1)[0])
    wanted = {nid for n in node_ids for nid in on_node.get(n, ())}
    built: dict[str, dpb.NetworkPeers] = {}
    for nid in sorted(wanted):
        net = snap.networks.get(nid)
        if net is None:
            continue
        peers = dpb.NetworkPeers(
            network_id=nid,
            name=net.name,
            vni=net.vni,
            subnet=net.spec.subnet,
            gateway=net.spec.gateway,
            internal=net.spec.internal,
        )
        peers.endpoints.extend(sorted(endpoints[nid], key=lambda e: e.addr))
        for svc in sorted(snap.services.values(), key=lambda s: s.name):
            attached = [a for a in svc.spec.networks if a.target == nid]
            if not attached:
                continue
            vip = next((addr.split("/", 1)[0] for n, addr in svc.vips if n == nid), "")
            peers.services.add(
                name=svc.name,
                aliases=list(attached[0].aliases),
                vip=vip,
                task_addrs=sorted(running.get((svc.id, nid), [])),
                endpoint_mode=svc.spec.endpoint_mode or "vip",
            )
        built[nid] = peers
    return {n: [built[nid] for nid in sorted(on_node.get(n, ())) if nid in built] for n in node_ids}
