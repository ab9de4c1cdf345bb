"""What each node must program for its overlay networks (pure: a snapshot in, peer sets out).

A node gets the whole picture of every network one of its tasks is on: every live endpoint (the
task's address, its MAC, the VTEP of its node) and, for DNS and load balancing, each attached
service's VIP and the addresses of its running tasks. Whole sets, so the node reconciles instead
of applying deltas: a lost or reordered message cannot leave a stale entry behind.

The routing mesh: while any service publishes a port in ingress mode, every node with an engine
gets the ingress network's set, whether or not it runs a task on it: its endpoints include every
node's sandbox (task_id "", ipam.sandbox_addrs), its services are those that publish there (with
their ports), and `sandbox` is the receiving node's own address.
"""

from __future__ import annotations

import collections
import ipaddress

from svc.ports import is_host
from svc.v1 import dispatcher_pb2 as dpb

from . import ipam
from .store.netalloc import ingress_of, publishes_ingress
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
    ingress = ingress_of(snap.networks)
    publishing = [s for s in snap.services.values() if publishes_ingress(s.spec)] if ingress else []
    sandboxes: dict[str, str] = {}
    if ingress is not None and publishing:
        engines = {n.id: n for n in snap.nodes.values() if n.description.runtime and n.description.addr}
        sandboxes = ipam.sandbox_addrs(ipaddress.IPv4Network(ingress.spec.subnet), engines)
        for node_id, addr in sandboxes.items():
            vtep = engines[node_id].description.addr
            endpoints[ingress.id].append(
                dpb.NetworkEndpoint(addr=addr, mac=ipam.mac_for(addr), node_addr=vtep, node_id=node_id)
            )
            on_node[node_id].add(ingress.id)
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
        if ingress is not None and nid == ingress.id:
            peers.ingress = True
            for svc in sorted(publishing, key=lambda s: s.name):
                ports = [p for p in svc.spec.task.ports if p.host_port and not is_host(p)]
                peers.services.add(
                    name=svc.name,
                    task_addrs=sorted(running.get((svc.id, nid), [])),
                    endpoint_mode="vip",
                    ports=[
                        dpb.PublishedPort(published=p.host_port, target=p.container_port, protocol=p.protocol or "tcp")
                        for p in ports
                    ],
                )
            built[nid] = peers
            continue
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
    return {
        n: [_for_node(built[nid], sandboxes.get(n, "")) for nid in sorted(on_node.get(n, ())) if nid in built]
        for n in node_ids
    }


def _for_node(peers: dpb.NetworkPeers, sandbox: str) -> dpb.NetworkPeers:
    """The ingress set with the node's own sandbox address; any other set as it is (shared)."""
    if not peers.ingress:
        return peers
    mine = dpb.NetworkPeers()
    mine.CopyFrom(peers)
    mine.sandbox = sandbox
    return mine
