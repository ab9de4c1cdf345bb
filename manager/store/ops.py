"""The store's operation encoding: named, versioned, made of primitives and bytes only.

Journals outlive code. An operation is a dict `{"op": NAME, "v": VERSION, "key": ...,
"ts": ..., ...}` whose values are str/int/float/bool/bytes/list/dict; protobuf specs travel
as serialized bytes. `apply` decodes by (name, version), so adding an operation or a
version never changes how an old journal replays (pysyncobj's own method ids would).

The proposer supplies everything that must be identical on every manager: ids, the
timestamp `ts`, placements. `key` makes a retried write apply once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from svc.v1 import cluster_pb2 as cpb

from .objects import NodeObj, TaskObj, TaskStatusObj, UpdateStatusObj

Op = dict[str, Any]


def new_id() -> str:
    return uuid.uuid4().hex[:25]


def make(name: str, version: int = 1, **payload: Any) -> Op:
    return {"op": name, "v": version, "key": uuid.uuid4().hex, "ts": time.time(), **payload}


# ----- encoders: objects -> primitives -----


def encode_status(s: TaskStatusObj) -> dict[str, Any]:
    return {
        "state": s.state,
        "timestamp": s.timestamp,
        "message": s.message,
        "err": s.err,
        "exit_code": s.exit_code,
        "container_id": s.container_id,
        "health": s.health,
    }


def decode_status(d: dict[str, Any]) -> TaskStatusObj:
    return TaskStatusObj(**d)


def encode_task(t: TaskObj) -> dict[str, Any]:
    return {
        "id": t.id,
        "service_id": t.service_id,
        "slot": t.slot,
        "spec": t.spec.SerializeToString(),
        "service_version": t.service_version,
        "desired_state": t.desired_state,
        "node_id": t.node_id,
        "status": encode_status(t.status),
        "created_at": t.created_at,
        "networks": [list(n) for n in t.networks],
        "started_at": t.started_at,
    }


def encode_node(n: NodeObj) -> dict[str, Any]:
    return {
        "id": n.id,
        "role": n.role,
        "availability": n.availability,
        "state": n.state,
        "labels": dict(n.labels),
        "description": n.description.SerializeToString(),
        "message": n.message,
        "raft_addr": n.raft_addr,
        "api_addr": n.api_addr,
        "manager_metrics_addr": n.manager_metrics_addr,
        "cert_root": n.cert_root,
        "created_at": n.created_at,
    }


def decode_node(d: dict[str, Any]) -> NodeObj:
    d = dict(d)
    d["description"] = cpb.NodeDescription.FromString(d.get("description") or b"")
    known = set(NodeObj.__dataclass_fields__)
    return NodeObj(**{k: v for k, v in d.items() if k in known})


def encode_spec(spec: cpb.ServiceSpec) -> bytes:
    return spec.SerializeToString(deterministic=True)


def decode_spec(raw: bytes) -> cpb.ServiceSpec:
    return cpb.ServiceSpec.FromString(raw)


# ----- constructors for every operation the store knows -----


def cluster_init(cluster: dict[str, Any]) -> Op:
    return make("cluster.init", cluster=cluster)


def cluster_update(expect_version: int, **changes: Any) -> Op:
    return make("cluster.update", expect_version=expect_version, changes=changes)


def node_register(node: NodeObj) -> Op:
    """Create the node, or refresh its description (and role addresses) if it exists."""
    return make("node.register", node=encode_node(node))


def node_update(node_id: str, expect_version: int, **changes: Any) -> Op:
    return make("node.update", id=node_id, expect_version=expect_version, changes=changes)


def node_states(updates: list[tuple[str, str, str]], term: int) -> Op:
    """Batch of (node id, state, message) from the leader's heartbeat tracking, decided in `term`
    (the store refuses it if it commits in another: see state.fence)."""
    return make("node.states", updates=[list(u) for u in updates], term=term)


def node_remove(node_id: str, expect_version: int = 0) -> Op:
    return make("node.remove", id=node_id, expect_version=expect_version)


def service_create(service_id: str, spec: cpb.ServiceSpec) -> Op:
    return make("service.create", id=service_id, spec=encode_spec(spec))


def service_update(service_id: str, expect_version: int, spec: cpb.ServiceSpec, rollback: bool = False) -> Op:
    return make(
        "service.update", id=service_id, expect_version=expect_version, spec=encode_spec(spec), rollback=rollback
    )


def service_rollout(
    service_id: str, expect_version: int, status: UpdateStatusObj, rollback: bool, term: int | None = None
) -> Op:
    """The leader's rollout progress for a service (manager/rollout.py decides it); with `rollback`, the
    service also goes back to its previous spec. Skipped (not an error) if the service changed since."""
    return make(
        "service.rollout",
        id=service_id,
        expect_version=expect_version,
        status=encode_update_status(status),
        rollback=rollback,
        **({} if term is None else {"term": term}),
    )


def encode_update_status(u: UpdateStatusObj) -> dict[str, Any]:
    return {"state": u.state, "started_at": u.started_at, "completed_at": u.completed_at, "message": u.message}


def service_remove(service_id: str) -> Op:
    return make("service.remove", id=service_id)


def tasks_write(
    create: list[TaskObj] | None = None,
    update: list[tuple[str, int, dict[str, Any]]] | None = None,
    delete: list[str] | None = None,
    term: int | None = None,
) -> Op:
    """The orchestrator's and scheduler's batch. Each update is (task id, expected version, changes);
    an update whose version is stale is skipped and reported, the rest apply. A leader passes the
    term it decided in: the store refuses the batch if it commits in another (state.fence)."""
    specs: dict[bytes, int] = {}
    created = []
    for t in create or []:
        enc = encode_task(t)
        raw = enc.pop("spec")
        enc["spec_ref"] = specs.setdefault(raw, len(specs))
        created.append(enc)
    return make(
        "tasks.write",
        create=created,
        specs=list(specs),
        update=[list(u) for u in update or []],
        delete=list(delete or []),
        **({} if term is None else {"term": term}),
    )


def tasks_status(updates: list[tuple[str, str, TaskStatusObj]]) -> Op:
    """Batch of (task id, reporting node id, status) from nodes; states only move forward."""
    return make("tasks.status", updates=[[tid, nid, encode_status(s)] for tid, nid, s in updates])


def store_restore(state: dict[str, Any], keep_manager: str) -> Op:
    """The whole store, as StoreState.to_plain gives it, for a cluster made anew from one manager's
    state (`--force-new-cluster`): every manager but `keep_manager` leaves (its identity revoked)."""
    return make("store.restore", state=state, keep=keep_manager)


def network_create(network_id: str, spec: cpb.NetworkSpec) -> Op:
    """A new overlay network; the store allocates its VXLAN id, and its subnet if none is given."""
    return make("network.create", id=network_id, spec=spec.SerializeToString(deterministic=True))


def network_remove(network_id: str) -> Op:
    return make("network.remove", id=network_id)


def cluster_secrets_key(key: bytes) -> Op:
    """The cluster's data key for secrets, set once (a second proposal keeps the first)."""
    return make("cluster.secrets_key", secrets_key=key)


def file_create(kind: str, file_id: str, name: str, data: bytes, labels: dict[str, str]) -> Op:
    """A secret (`data` sealed by the proposer with the cluster's data key) or a config."""
    return make("file.create", kind=kind, id=file_id, file_name=name, data=data, labels=dict(labels))


def file_update(kind: str, file_id: str, expect_version: int, labels: dict[str, str]) -> Op:
    """A secret's or config's labels, the one change swarmkit allows, at the version read."""
    return make("file.update", kind=kind, id=file_id, expect_version=expect_version, labels=dict(labels))


def file_remove(kind: str, file_id: str) -> Op:
    """Refused while a service references it."""
    return make("file.remove", kind=kind, id=file_id)


def noop() -> Op:
    return make("noop")
