"""The replicated state machine: `apply(op)` on every manager, in the same order, with the same result.

Rules (see ../shared/notes/pysyncobj.md): apply never raises — an exception inside a Raft
apply would be retried forever and wedge every manager alike — so every failure is a
returned error value; apply never reads the clock or randomness (the op carries `ts` and
ids); every mutation of an existing object is a compare-and-set on its version; a key seen
before returns the recorded result instead of applying twice.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from svc import defaults
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

from . import files, netalloc
from . import ops as O
from .objects import (
    MANAGER,
    NODE_READY,
    REMOVE,
    RUNNING,
    WORKER,
    ClusterObj,
    FileObj,
    NetworkObj,
    NodeObj,
    ServiceObj,
    TaskObj,
    UpdateStatusObj,
    moves_forward,
)

log = logging.getLogger(__name__)

# Error codes in results; svc.errors classes by the same names are raised by the proposer.
NOT_FOUND, ALREADY_EXISTS, OUT_OF_DATE, INVALID, CONFLICT, PERMISSION, INTERNAL = (
    "NotFound",
    "AlreadyExists",
    "OutOfDate",
    "InvalidArgument",
    "Conflict",
    "PermissionDenied",
    "Internal",
)

Result = tuple[str, Any]  # ("", value) on success, (error code, message) on failure
OK: Result = ("", None)


@dataclass
class Changes:
    """What one apply touched, for listeners (dispatcher, leader loop)."""

    nodes: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    task_nodes: set[str] = field(default_factory=set)  # nodes whose assignment set may have changed
    cluster: bool = False
    networks: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Snapshot:
    """A consistent, read-only view. Objects are immutable; the dicts are private copies."""

    seq: int
    cluster: ClusterObj | None
    nodes: dict[str, NodeObj]
    services: dict[str, ServiceObj]
    tasks: dict[str, TaskObj]
    networks: dict[str, NetworkObj] = field(default_factory=dict)
    secrets: dict[str, FileObj] = field(default_factory=dict)  # values sealed
    configs: dict[str, FileObj] = field(default_factory=dict)


class StoreState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.listener: Callable[[str, Changes], None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.seq = 0
        self.cluster: ClusterObj | None = None
        self.nodes: dict[str, NodeObj] = {}
        self.services: dict[str, ServiceObj] = {}
        self.tasks: dict[str, TaskObj] = {}
        self.tasks_by_node: dict[str, set[str]] = collections.defaultdict(set)
        self.networks: dict[str, NetworkObj] = {}
        self.secrets: dict[str, FileObj] = {}
        self.configs: dict[str, FileObj] = {}
        self.addresses = netalloc.AddressBook()  # derived from the above, rebuilt on load
        self.dedup: dict[str, Result] = {}
        self.dedup_order: collections.deque[tuple[float, str]] = collections.deque()
        self._digest: tuple[tuple[int, int], int] = ((-1, -1), 0)

    # ----- reads -----

    def snapshot(self) -> Snapshot:
        with self.lock:
            return Snapshot(
                self.seq,
                self.cluster,
                dict(self.nodes),
                dict(self.services),
                dict(self.tasks),
                dict(self.networks),
                dict(self.secrets),
                dict(self.configs),
            )

    def node_list(self) -> list[NodeObj]:
        with self.lock:
            return list(self.nodes.values())

    def node_tasks(self, node_id: str) -> list[TaskObj]:
        with self.lock:
            return [self.tasks[t] for t in self.tasks_by_node.get(node_id, ())]

    # ----- apply -----

    def apply(self, op: dict[str, Any], entry_term: int | None = None) -> Result:
        """Apply one committed operation. Never raises.

        `entry_term` is the Raft term of the log entry that carries `op`. A leader's decision
        carries the term it was made in (`op["term"]`); it applies only if it was committed in that
        term, i.e. its leader was still the leader when the entry was made. A decision that reaches
        the log in a later term (a deposed leader's write, retried or forwarded after the election)
        is refused, whenever it commits: the fence."""
        with self.lock:
            key = op.get("key", "")
            if key and key in self.dedup:
                return self.dedup[key]
            changes = Changes()
            try:
                handler = _HANDLERS.get((str(op.get("op")), int(op.get("v") or 0)))
                fenced = fence(op, entry_term)
                if fenced is not None:
                    result: Result = fenced
                elif handler is None:
                    result = (INVALID, f"unknown operation {op.get('op')!r} v{op.get('v')}")
                else:
                    self.seq += 1
                    result = handler(self, op, changes)
            except Exception as exc:  # a bug must not wedge the cluster: record it as an error result
                log.exception("applying %s", op.get("op"))
                result = (INTERNAL, f"{type(exc).__name__}: {exc}")
            if key:
                self._remember(key, float(op.get("ts", 0.0)), result)
        listener = self.listener
        if listener is not None and (
            changes.nodes or changes.services or changes.tasks or changes.cluster or changes.networks
        ):
            try:
                listener(op.get("op", ""), changes)
            except Exception:
                log.exception("store listener failed")
        return result

    def _remember(self, key: str, ts: float, result: Result) -> None:
        self.dedup[key] = result
        self.dedup_order.append((ts, key))
        horizon = ts - defaults.IDEMPOTENCY_TTL_SECONDS
        while self.dedup_order and self.dedup_order[0][0] < horizon:
            _, old = self.dedup_order.popleft()
            self.dedup.pop(old, None)

    # ----- helpers used by handlers -----

    def _put_task(self, task: TaskObj, changes: Changes) -> None:
        old = self.tasks.get(task.id)
        if task.networks or (old is not None and old.networks):
            before, after = (netalloc.held(old) if old else ()), netalloc.held(task)
            self.addresses.give(p for p in before if p not in after)
            self.addresses.take(after)
            changes.networks.update(nid for nid, _ in (*before, *after))
        if old is not None and old.node_id != task.node_id and old.node_id:
            self.tasks_by_node[old.node_id].discard(task.id)
            changes.task_nodes.add(old.node_id)
        self.tasks[task.id] = task
        if task.node_id:
            self.tasks_by_node[task.node_id].add(task.id)
            changes.task_nodes.add(task.node_id)
        changes.tasks.add(task.id)

    def _drop_task(self, task_id: str, changes: Changes) -> None:
        task = self.tasks.pop(task_id, None)
        if task is None:
            return
        if task.networks:
            self.addresses.give(netalloc.held(task))
            changes.networks.update(nid for nid, _ in task.networks)
        if task.node_id:
            self.tasks_by_node[task.node_id].discard(task_id)
            changes.task_nodes.add(task.node_id)
        changes.tasks.add(task_id)

    # ----- snapshots (pysyncobj log compaction) -----

    def digest(self) -> int:
        """48 bits of a SHA-256 of the whole state: equal on every replica that applied the same
        log (apply is deterministic), so the fault tests compare managers by it. Cached per seq."""
        with self.lock:
            at = (self.seq, len(self.dedup))  # an op that changes nothing else is still remembered
            if self._digest[0] != at:
                raw = pickle.dumps(self.to_plain(), protocol=4)
                self._digest = (at, int.from_bytes(hashlib.sha256(raw).digest()[:6], "big"))
            return self._digest[1]

    def to_plain(self) -> dict[str, Any]:
        with self.lock:
            c = self.cluster
            return {
                "format": 1,
                "seq": self.seq,
                "cluster": None
                if c is None
                else {
                    **{k: getattr(c, k) for k in ClusterObj.__dataclass_fields__ if k != "removed_nodes"},
                    "removed_nodes": sorted(c.removed_nodes),
                },
                "nodes": [
                    {**O.encode_node(n), "version": n.version, "updated_at": n.updated_at} for n in self.nodes.values()
                ],
                "services": [
                    {
                        "id": s.id,
                        "spec": O.encode_spec(s.spec),
                        "previous_spec": O.encode_spec(s.previous_spec) if s.previous_spec else b"",
                        "spec_version": s.spec_version,
                        "vips": [list(v) for v in s.vips],
                        "update_status": O.encode_update_status(s.update_status) if s.update_status else None,
                        "version": s.version,
                        "created_at": s.created_at,
                        "updated_at": s.updated_at,
                    }
                    for s in self.services.values()
                ],
                "tasks": [{**O.encode_task(t), "version": t.version} for t in self.tasks.values()],
                "networks": [
                    {
                        "id": n.id,
                        "spec": n.spec.SerializeToString(deterministic=True),
                        "vni": n.vni,
                        "version": n.version,
                        "created_at": n.created_at,
                    }
                    for n in self.networks.values()
                ],
                "files": [files.encode(f) for f in (*self.secrets.values(), *self.configs.values())],
                "dedup": [[ts, key, list(self.dedup[key])] for ts, key in self.dedup_order if key in self.dedup],
            }

    def load_plain(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self._reset()
            self.seq = doc["seq"]
            if doc["cluster"] is not None:
                c = dict(doc["cluster"])
                c["removed_nodes"] = frozenset(c.get("removed_nodes", ()))
                self.cluster = ClusterObj(**{k: v for k, v in c.items() if k in ClusterObj.__dataclass_fields__})
            for n in doc["nodes"]:
                node = replace(O.decode_node(n), version=n["version"], updated_at=n.get("updated_at", 0.0))
                self.nodes[node.id] = node
            for s in doc["services"]:
                prev = O.decode_spec(s["previous_spec"]) if s["previous_spec"] else None
                self.services[s["id"]] = ServiceObj(
                    id=s["id"],
                    spec=O.decode_spec(s["spec"]),
                    previous_spec=prev,
                    spec_version=s["spec_version"],
                    vips=tuple((v[0], v[1]) for v in s.get("vips", ())),
                    update_status=UpdateStatusObj(**s["update_status"]) if s.get("update_status") else None,
                    version=s["version"],
                    created_at=s["created_at"],
                    updated_at=s["updated_at"],
                )
            spec_cache: dict[bytes, pb.ContainerSpec] = {}
            sink = Changes()
            for t in doc["tasks"]:
                spec = spec_cache.get(t["spec"])
                if spec is None:
                    spec = spec_cache[t["spec"]] = pb.ContainerSpec.FromString(t["spec"])
                self._put_task(_task_from(t, spec, t["version"]), sink)
            for n in doc.get("networks", []):
                self.networks[n["id"]] = NetworkObj(
                    id=n["id"],
                    spec=cpb.NetworkSpec.FromString(n["spec"]),
                    vni=n["vni"],
                    version=n["version"],
                    created_at=n["created_at"],
                )
            for f in doc.get("files", []):
                obj = files.decode(f)
                (self.secrets if obj.kind == "secret" else self.configs)[obj.id] = obj
            self.addresses.rebuild(self.networks.values(), self.services.values(), self.tasks.values())
            for ts, key, result in doc.get("dedup", []):
                self.dedup[key] = (result[0], result[1])
                self.dedup_order.append((ts, key))


def _task_from(d: dict[str, Any], spec: pb.ContainerSpec, version: int) -> TaskObj:
    return TaskObj(
        id=d["id"],
        service_id=d["service_id"],
        slot=d["slot"],
        spec=spec,
        service_version=d["service_version"],
        desired_state=d["desired_state"],
        node_id=d["node_id"],
        status=O.decode_status(d["status"]),
        version=version,
        created_at=d["created_at"],
        networks=tuple((n[0], n[1]) for n in d.get("networks", ())),
        started_at=d.get("started_at", 0.0),
    )


# ----- handlers: (state, op, changes) -> Result -----


def _cluster_init(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    if s.cluster is not None:
        return CONFLICT, "the cluster is initialized already"
    c = dict(op["cluster"])
    c["removed_nodes"] = frozenset(c.get("removed_nodes", ()))
    s.cluster = ClusterObj(**c, version=s.seq)
    ch.cluster = True
    return "", s.cluster.id


_CLUSTER_FIELDS = {
    "worker_secret",
    "manager_secret",
    "heartbeat_period",
    "cert_lifetime",
    "name",
    "unlock_key",
    # CA root rotation: started with the ca_next_* fields, finished by moving them into ca_cert_pem/ca_key_pem.
    "ca_cert_pem",
    "ca_key_pem",
    "ca_next_cert_pem",
    "ca_next_key_pem",
    "ca_cross_pem",
    "ca_rotation_started",
}


def _cluster_update(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    if s.cluster is None:
        return NOT_FOUND, "the cluster is not initialized"
    if op["expect_version"] and op["expect_version"] != s.cluster.version:
        return OUT_OF_DATE, "cluster settings changed meanwhile; retry"
    changes = op["changes"]
    bad = set(changes) - _CLUSTER_FIELDS
    if bad:
        return INVALID, f"cannot change cluster settings {sorted(bad)}"
    s.cluster = replace(s.cluster, **changes, version=s.seq)
    ch.cluster = True
    return "", s.cluster.version


def fence(op: dict[str, Any], entry_term: int | None) -> Result | None:
    """The refusal for a leader's decision committed outside the term it was made in, else None."""
    term = op.get("term")
    if term is None or entry_term is None or int(term) == entry_term:
        return None
    return OUT_OF_DATE, (
        f"{op.get('op')} decided by the leader of term {term} reached the log in term {entry_term}: "
        "refused, that leader was deposed"
    )


def _node_register(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    new = O.decode_node(op["node"])
    if s.cluster is not None and new.id in s.cluster.removed_nodes:
        return PERMISSION, f"node {new.id[:12]} was removed from the cluster; it must join again with a new identity"
    old = s.nodes.get(new.id)
    ts = op["ts"]
    if old is None:
        node = replace(
            new, role=new.role or WORKER, state=NODE_READY, message="", version=s.seq, created_at=ts, updated_at=ts
        )
    else:
        # A manager refreshing its record must not wipe the description its node's engine reported.
        keep = bool(old.description.runtime) and not new.description.runtime
        node = replace(
            old,
            description=old.description if keep else new.description,
            state=NODE_READY,
            message="",
            raft_addr=new.raft_addr or old.raft_addr,
            api_addr=new.api_addr or old.api_addr,
            manager_metrics_addr=new.manager_metrics_addr or old.manager_metrics_addr,
            cert_root=new.cert_root or old.cert_root,
            role=new.role or old.role,
            version=s.seq,
            updated_at=ts,
        )
    s.nodes[node.id] = node
    ch.nodes.add(node.id)
    return "", node.version


_NODE_FIELDS = {
    "availability",
    "labels",
    "role",
    "raft_addr",
    "api_addr",
    "manager_metrics_addr",
    "state",
    "message",
    "cert_root",
}


def _node_update(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    node = s.nodes.get(op["id"])
    if node is None:
        return NOT_FOUND, f"no such node: {op['id']}"
    if op["expect_version"] and op["expect_version"] != node.version:
        return OUT_OF_DATE, f"node {node.hostname} changed since it was read (update out of sequence); retry"
    changes = op["changes"]
    bad = set(changes) - _NODE_FIELDS
    if bad:
        return INVALID, f"cannot change node fields {sorted(bad)}"
    s.nodes[node.id] = replace(node, **changes, version=s.seq, updated_at=op["ts"])
    ch.nodes.add(node.id)
    ch.task_nodes.add(node.id)
    return "", s.seq


def _node_states(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    for node_id, state, message in op["updates"]:
        node = s.nodes.get(node_id)
        if node is None or (node.state == state and node.message == message):
            continue
        s.nodes[node_id] = replace(node, state=state, message=message, version=s.seq, updated_at=op["ts"])
        ch.nodes.add(node_id)
    return OK


def _node_remove(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    node = s.nodes.get(op["id"])
    if node is None:
        return NOT_FOUND, f"no such node: {op['id']}"
    if op["expect_version"] and op["expect_version"] != node.version:
        return OUT_OF_DATE, f"node {node.hostname} changed since it was read; retry"
    del s.nodes[node.id]
    if s.cluster is not None:
        s.cluster = replace(s.cluster, removed_nodes=s.cluster.removed_nodes | {node.id}, version=s.seq)
        ch.cluster = True
    ch.nodes.add(node.id)
    ch.task_nodes.add(node.id)
    return OK


def _service_create(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    spec = O.decode_spec(op["spec"])
    if any(x.spec.name == spec.name for x in s.services.values()):
        return ALREADY_EXISTS, f"service {spec.name} already exists"
    gone = files.missing(spec, s.secrets, s.configs)
    if gone is not None:
        return gone
    if op["id"] in s.services:
        return ALREADY_EXISTS, f"service id {op['id']} already exists"
    attached = netalloc.attach_service(s.networks, s.addresses, spec, None)
    if isinstance(attached[0], str):
        return attached  # type: ignore[return-value]
    vips = attached[1]
    svc = ServiceObj(id=op["id"], spec=spec, vips=vips, version=s.seq, created_at=op["ts"], updated_at=op["ts"])  # type: ignore[arg-type]
    ch.networks.update(nid for nid, _ in vips)
    s.services[svc.id] = svc
    ch.services.add(svc.id)
    return "", svc.version


def _template_changed(a: cpb.ServiceSpec, b: cpb.ServiceSpec) -> bool:
    """Whether running tasks must be replaced: anything but the replica count, labels and the update and
    rollback policies (as Swarm's, where those are not the task template)."""
    x, y = cpb.ServiceSpec(), cpb.ServiceSpec()
    x.CopyFrom(a)
    y.CopyFrom(b)
    for m in (x, y):
        m.replicas = 0
        m.labels.clear()
        m.ClearField("update_config")
        m.ClearField("rollback_config")
    return x.SerializeToString(deterministic=True) != y.SerializeToString(deterministic=True)


def _service_update(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    svc = s.services.get(op["id"])
    if svc is None:
        return NOT_FOUND, f"no such service: {op['id']}"
    if op["expect_version"] != svc.version:
        return OUT_OF_DATE, f"service {svc.name} changed since it was read (update out of sequence); retry"
    spec = O.decode_spec(op["spec"])
    if spec.name != svc.spec.name and any(x.spec.name == spec.name for x in s.services.values()):
        return ALREADY_EXISTS, f"service {spec.name} already exists"
    gone = files.missing(spec, s.secrets, s.configs)
    if gone is not None:
        return gone
    attached = netalloc.attach_service(s.networks, s.addresses, spec, svc)
    if isinstance(attached[0], str):
        return attached  # type: ignore[return-value]
    vips: tuple[tuple[str, str], ...] = attached[1]  # type: ignore[assignment]
    ch.networks.update(nid for nid, _ in (*svc.vips, *vips))
    ch.networks.update(a.target for a in (*svc.spec.networks, *spec.networks))
    bump = _template_changed(svc.spec, spec)
    previous = None if op.get("rollback") else svc.spec
    # A spec write clears the last rollout's status (Swarm's rule: `update` resumes a paused one); a
    # rollback starts one, which the leader's orchestrator follows with the rollback policy.
    status = op.get("status") or (
        {"state": "rollback_started", "started_at": op["ts"], "message": "manually requested rollback"}
        if op.get("rollback")
        else None
    )
    s.services[svc.id] = replace(
        svc,
        spec=spec,
        vips=vips,
        previous_spec=previous,
        update_status=UpdateStatusObj(**status) if status else None,
        spec_version=svc.spec_version + (1 if bump else 0),
        version=s.seq,
        updated_at=op["ts"],
    )
    ch.services.add(svc.id)
    return "", s.seq


def _service_rollout(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    """The leader's rollout status, and with `rollback` the previous spec back (Swarm's automatic rollback)."""
    svc = s.services.get(op["id"])
    if svc is None or svc.version != op["expect_version"]:
        return "", False  # changed (or gone) since the leader decided: it decides again
    if op["rollback"]:
        if svc.previous_spec is None:
            return CONFLICT, f"service {svc.name} has no previous spec to roll back to"
        back = {"id": svc.id, "expect_version": svc.version, "spec": O.encode_spec(svc.previous_spec)}
        return _service_update(s, {**back, "rollback": True, "status": op["status"], "ts": op["ts"]}, ch)
    s.services[svc.id] = replace(svc, update_status=UpdateStatusObj(**op["status"]), version=s.seq)
    ch.services.add(svc.id)
    return "", True


def _service_remove(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    svc = s.services.pop(op["id"], None)
    if svc is None:
        return NOT_FOUND, f"no such service: {op['id']}"
    s.addresses.give(svc.vips)
    ch.networks.update(nid for nid, _ in svc.vips)
    for task in [t for t in s.tasks.values() if t.service_id == svc.id]:
        if task.desired_state != REMOVE:
            s._put_task(replace(task, desired_state=REMOVE, version=s.seq), ch)
    ch.services.add(svc.id)
    return OK


_TASK_FIELDS = {"node_id", "desired_state", "status"}


def _tasks_write(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    specs = [pb.ContainerSpec.FromString(raw) for raw in op["specs"]]
    conflicts: list[str] = []
    for d in op["create"]:
        if d["id"] in s.tasks:
            conflicts.append(d["id"])
            continue
        made = _task_from(d, specs[d["spec_ref"]], s.seq)
        s._put_task(netalloc.attach_task(s.networks, s.addresses, made, s.services.get(made.service_id)), ch)
    for task_id, expect, changes in op["update"]:
        task = s.tasks.get(task_id)
        if task is None or (expect and task.version != expect) or set(changes) - _TASK_FIELDS:
            conflicts.append(task_id)
            continue
        if "status" in changes:
            changes = {**changes, "status": O.decode_status(changes["status"])}
        s._put_task(replace(task, **changes, version=s.seq), ch)
    for task_id in op["delete"]:
        s._drop_task(task_id, ch)
    return "", conflicts


def _tasks_status(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    ignored = 0
    for task_id, node_id, raw in op["updates"]:
        task = s.tasks.get(task_id)
        if task is None or task.node_id != node_id:
            ignored += 1  # a node may only report on its own tasks
            continue
        status = O.decode_status(raw)
        if not moves_forward(task.status, status):
            ignored += 1
            continue
        started = task.started_at or (status.timestamp if status.state == RUNNING else 0.0)
        s._put_task(replace(task, status=status, started_at=started, version=s.seq), ch)
    return "", ignored


def _store_restore(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    """Replace the store with a recovered one; the other managers leave and must join again."""
    s.load_plain(op["state"])
    s.seq += 1  # versions keep growing past every recovered one
    gone = {n.id for n in s.nodes.values() if n.role == MANAGER and n.id != op["keep"]}
    for node_id in gone:
        del s.nodes[node_id]
    if s.cluster is not None:
        s.cluster = replace(s.cluster, removed_nodes=s.cluster.removed_nodes | gone, version=s.seq)
    ch.cluster = True
    ch.nodes.update(s.nodes, gone)
    ch.services.update(s.services)
    ch.tasks.update(s.tasks)
    ch.task_nodes.update(s.nodes, gone)
    ch.networks.update(s.networks)
    return "", sorted(gone)


def _network_create(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    result = netalloc.create(s.networks, s.addresses, op, s.seq)
    if not result[0]:
        ch.networks.add(op["id"])
    return result


def _network_remove(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    result = netalloc.remove(s.networks, s.addresses, op, s.services.values(), s.tasks.values())
    if not result[0]:
        ch.networks.add(op["id"])
    return result


def _file_table(s: StoreState, op: dict[str, Any]) -> dict[str, FileObj]:
    return s.secrets if op.get("kind") == "secret" else s.configs


def _file_create(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    if op.get("kind") == "secret" and (s.cluster is None or not s.cluster.secrets_key):
        return INVALID, "the cluster has no data key for secrets yet; retry"
    return files.create(_file_table(s, op), op, s.seq)


def _file_update(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    return files.update(_file_table(s, op), op, s.seq)


def _file_remove(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    return files.remove(_file_table(s, op), op, s.services.values())


def _cluster_secrets_key(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    if s.cluster is None:
        return NOT_FOUND, "the cluster is not initialized"
    result = files.set_key(s.cluster.secrets_key, op["secrets_key"])
    if result[0] == "" and result[1]:
        s.cluster = replace(s.cluster, secrets_key=op["secrets_key"], version=s.seq)
        ch.cluster = True
    return result


def _noop(s: StoreState, op: dict[str, Any], ch: Changes) -> Result:
    return "", s.seq


_HANDLERS: dict[tuple[str, int], Callable[[StoreState, dict[str, Any], Changes], Result]] = {
    ("cluster.init", 1): _cluster_init,
    ("cluster.update", 1): _cluster_update,
    ("node.register", 1): _node_register,
    ("node.update", 1): _node_update,
    ("node.states", 1): _node_states,
    ("node.remove", 1): _node_remove,
    ("service.create", 1): _service_create,
    ("service.update", 1): _service_update,
    ("service.remove", 1): _service_remove,
    ("service.rollout", 1): _service_rollout,
    ("tasks.write", 1): _tasks_write,
    ("tasks.status", 1): _tasks_status,
    ("store.restore", 1): _store_restore,
    ("network.create", 1): _network_create,
    ("network.remove", 1): _network_remove,
    ("cluster.secrets_key", 1): _cluster_secrets_key,
    ("file.create", 1): _file_create,
    ("file.remove", 1): _file_remove,
    ("file.update", 1): _file_update,
    ("noop", 1): _noop,
}
