"""Store objects -> control API messages (what `svc ls`, `ps`, `node ls` and `inspect` show).

Secrets (join token secrets, the Raft key, the CA key) live in the cluster object and never
pass through here.
"""

from __future__ import annotations

from collections.abc import Iterable

from svc.v1 import cluster_pb2 as cpb

from .scheduler import eligible_for_global
from .store.objects import NODE_READY, RUNNING, NetworkObj, NodeObj, ServiceObj, TaskObj
from .store.state import Snapshot


def node_view(n: NodeObj, leader_raft: str | None, reachable: dict[str, bool]) -> cpb.Node:
    msg = cpb.Node(
        id=n.id,
        role=n.role,
        availability=n.availability,
        state=n.state,
        labels=dict(n.labels),
        description=n.description,
        message=n.message,
        version=n.version,
        created_at=n.created_at,
        updated_at=n.updated_at,
    )
    if n.role == "manager" and n.raft_addr:
        msg.manager_status.CopyFrom(
            cpb.ManagerStatus(
                raft_addr=n.raft_addr,
                metrics_addr=n.manager_metrics_addr,
                api_addr=n.api_addr,
                leader=n.raft_addr == leader_raft,
                reachability="reachable" if reachable.get(n.raft_addr, False) else "unreachable",
            )
        )
    return msg


def task_view(t: TaskObj, svc_name: str, networks: dict[str, NetworkObj] | None = None) -> cpb.Task:
    s = t.status
    msg = cpb.Task(
        id=t.id,
        service_id=t.service_id,
        service_name=svc_name,
        slot=t.slot,
        node_id=t.node_id,
        desired_state=t.desired_state,
        spec=t.spec,
        version=t.version,
        created_at=t.created_at,
        service_version=t.service_version,
        status=cpb.TaskStatus(
            state=s.state,
            timestamp=s.timestamp,
            message=s.message,
            err=s.err,
            exit_code=s.exit_code,
            container_id=s.container_id,
            health=s.health,
        ),
    )
    for nid, addr in t.networks:
        net = (networks or {}).get(nid)
        msg.networks.add(
            network_id=nid,
            network_name=net.name if net else "",
            addr=addr,
            gateway=net.spec.gateway if net else "",
            vni=net.vni if net else 0,
            internal=net.spec.internal if net else False,
        )
    return msg


def counts_running(t: TaskObj, snap: Snapshot) -> bool:
    """A task counts as running if it runs (healthy, where checked) on a node that is up."""
    node = snap.nodes.get(t.node_id)
    return t.state == RUNNING and t.desired_state == RUNNING and node is not None and node.state == NODE_READY


def service_counts(snap: Snapshot) -> dict[str, tuple[int, int]]:
    """service id -> (running, desired). A global service desires one task per eligible node (ready,
    active, with an engine, meeting its constraints), as Swarm counts it; not the tasks made so far,
    which are none just after `svc create` (a wait would have ended there, at 0/0)."""
    running: dict[str, int] = {s: 0 for s in snap.services}
    for t in snap.tasks.values():
        if t.service_id in running and counts_running(t, snap):
            running[t.service_id] += 1
    out = {}
    for sid, svc in snap.services.items():
        desired = len(eligible_for_global(snap, svc)) if svc.is_global else svc.spec.replicas
        out[sid] = (running[sid], desired)
    return out


def service_view(s: ServiceObj, counts: tuple[int, int]) -> cpb.Service:
    """A service as the control API shows it: never its registry credentials."""
    msg = cpb.Service(
        id=s.id,
        spec=s.spec,
        version=s.version,
        created_at=s.created_at,
        updated_at=s.updated_at,
        running=counts[0],
        desired=counts[1],
    )
    msg.spec.ClearField("registry_auth")
    service_networks_view(msg, s)
    if s.previous_spec is not None:
        msg.previous_spec.CopyFrom(s.previous_spec)
        msg.previous_spec.ClearField("registry_auth")
    u = s.update_status
    if u is not None:
        msg.update_status.CopyFrom(
            cpb.UpdateStatus(state=u.state, started_at=u.started_at, completed_at=u.completed_at, message=u.message)
        )
    return msg


def assignment_view(t: TaskObj, svc: ServiceObj | None, networks: dict[str, NetworkObj] | None = None) -> cpb.Task:
    """A task as its node receives it: with the service's registry credentials, if it has any, and
    its network attachments."""
    msg = task_view(t, svc.name if svc else "", networks)
    if svc is not None and svc.spec.HasField("registry_auth"):
        msg.registry_auth.CopyFrom(svc.spec.registry_auth)
    return msg


def network_view(n: NetworkObj, services: dict[str, ServiceObj]) -> cpb.Network:
    msg = cpb.Network(id=n.id, spec=n.spec, vni=n.vni, version=n.version, created_at=n.created_at)
    msg.services.extend(sorted(s.name for s in services.values() if any(a.target == n.id for a in s.spec.networks)))
    return msg


def service_networks_view(msg: cpb.Service, s: ServiceObj) -> None:
    """A service's virtual IPs, as inspect shows them."""
    for nid, addr in s.vips:
        msg.virtual_ips.add(network_id=nid, addr=addr)


def find_one(items: Iterable[tuple[str, str]], ref: str, what: str) -> str:
    """Resolve `ref` (id, name or unique id prefix) among (id, name) pairs to an id."""
    from svc.errors import InvalidArgument, NotFound

    pairs = list(items)
    for oid, _ in pairs:
        if ref == oid:
            return oid
    named = sorted(oid for oid, name in pairs if ref and name == ref)
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(oid[:12] for oid in named)
        raise InvalidArgument(f"{what} name {ref} is ambiguous: {len(named)} {what}s (ids {ids}) — use an id")
    prefixed = [oid for oid, _ in pairs if ref and oid.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise InvalidArgument(f"{what} id prefix {ref!r} is ambiguous")
    raise NotFound(f"no such {what}: {ref}")
