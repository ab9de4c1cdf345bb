"""Secrets and configs on the leader: create, inspect, list, update, remove; services' references; task files.

One path for both kinds (`kind` = secret or config). A secret's value is sealed here, on the
leader, before it is proposed (manager/secretbox.py, the cluster's data key: made at cluster init,
or here on first use for a cluster from before), and opened only in `task_files`, for the
assignment of the one node that runs a task using it, and in `update`, to compare it on the
leader. No answer of the control API holds a secret's value; a config's is its `spec.data`, as
docker's inspect shows it. An update is swarmkit's: labels only, a new name or value refused.
"""

from __future__ import annotations

import hmac
import logging

from svc import filerefs
from svc.errors import InvalidArgument, NotFound, OutOfDate, RuntimeFailure
from svc.kv import parse_filters
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import control_pb2 as ctl

from . import secretbox, views
from .core import Manager
from .store import files, ops
from .store.objects import FileObj, TaskObj
from .store.state import Snapshot

log = logging.getLogger(__name__)


def _table(snap: Snapshot, kind: str) -> dict[str, FileObj]:
    return snap.secrets if kind == filerefs.SECRET else snap.configs


def find(snap: Snapshot, kind: str, ref: str) -> FileObj:
    table = _table(snap, filerefs.check_kind(kind))
    return table[views.find_one(((f.id, f.name) for f in table.values()), ref, kind)]


def view(f: FileObj, snap: Snapshot) -> cpb.Secret:
    """As the control API shows it: a config with its value, a secret never."""
    spec = cpb.SecretSpec(name=f.name, labels=dict(f.labels), data=f.data if f.kind == filerefs.CONFIG else b"")
    return cpb.Secret(
        id=f.id,
        spec=spec,
        version=f.version,
        created_at=f.created_at,
        updated_at=f.updated_at,
        services=files.users(snap.services.values(), f.kind, f.id),
    )


async def data_key(m: Manager) -> bytes:
    """The cluster's data key; proposed first if the cluster has none (one made before secrets)."""
    cluster = m.cluster
    if cluster is not None and cluster.secrets_key:
        return cluster.secrets_key
    await m.write(ops.cluster_secrets_key(secretbox.new_key()))  # set once: a racing proposal keeps the first
    cluster = m.cluster
    assert cluster is not None and cluster.secrets_key
    return cluster.secrets_key


async def create(m: Manager, request: ctl.CreateSecretRequest) -> cpb.Secret:
    kind = filerefs.check_kind(request.kind)
    spec = request.spec
    filerefs.check_name(kind, spec.name)
    filerefs.check_data(kind, spec.data)
    for key in spec.labels:
        if not key:
            raise InvalidArgument(f"invalid {kind} label: an empty key")
    file_id = ops.new_id()
    data = spec.data
    if kind == filerefs.SECRET:
        data = secretbox.seal(await data_key(m), file_id, data)
    await m.write(ops.file_create(kind, file_id, spec.name, data, dict(spec.labels)))
    snap = m.snapshot()
    return view(_table(snap, kind)[file_id], snap)


def listing(snap: Snapshot, request: ctl.ListSecretsRequest) -> ctl.ListSecretsResponse:
    kind = filerefs.check_kind(request.kind)
    f = parse_filters(list(request.filters), filerefs.FILTERS)
    out = []
    for obj in sorted(_table(snap, kind).values(), key=lambda o: o.name):
        if "name" in f and not obj.name.startswith(f["name"]):
            continue
        if "id" in f and not obj.id.startswith(f["id"]):
            continue
        if "label" in f:
            k, _, v = f["label"].partition("=")
            if k not in obj.labels or (v and obj.labels[k] != v):
                continue
        out.append(view(obj, snap))
    return ctl.ListSecretsResponse(secrets=out)


async def remove(m: Manager, request: ctl.SecretRef) -> None:
    kind = filerefs.check_kind(request.kind)
    obj = find(m.snapshot(), kind, request.ref)
    await m.write(ops.file_remove(kind, obj.id))  # the store refuses it while a service uses it


async def update(m: Manager, request: ctl.UpdateSecretRequest) -> cpb.Secret:
    """Swarmkit's update: new labels, at the version read (the store compares); the name and the value
    must be the stored ones (compared here, on the leader, after a barrier). Unchanged: nothing written."""
    kind = filerefs.check_kind(request.kind)
    snap = m.snapshot()
    obj = find(snap, kind, request.ref)
    if request.version != obj.version:
        raise OutOfDate(f"update out of sequence: {kind} {obj.name} is at version {obj.version}, not {request.version}")
    spec = request.spec
    if spec.name != obj.name:
        raise InvalidArgument(f"only updates to labels are allowed: {kind} {obj.name} cannot be renamed")
    if request.compare_data:
        stored = obj.data
        if kind == filerefs.SECRET:
            data_key = snap.cluster.secrets_key if snap.cluster else b""
            stored = secretbox.open_sealed(data_key, obj.id, obj.data)
        if not hmac.compare_digest(stored, spec.data):
            raise InvalidArgument(f"only updates to labels are allowed: {kind} {obj.name}'s value cannot change")
    if any(not label for label in spec.labels):
        raise InvalidArgument(f"invalid {kind} label: an empty key")
    if dict(spec.labels) == dict(obj.labels):
        return view(obj, snap)
    await m.write(ops.file_update(kind, obj.id, obj.version, dict(spec.labels)))
    snap = m.snapshot()
    return view(_table(snap, kind)[obj.id], snap)


def resolve(snap: Snapshot, spec: cpb.ServiceSpec) -> None:
    """A service's references by id (names resolved, docker's defaults filled in); one line for an
    unknown secret or config, or two files at one target."""
    for kind, refs in ((filerefs.SECRET, spec.task.secrets), (filerefs.CONFIG, spec.task.configs)):
        for r in refs:
            try:
                obj = find(snap, kind, r.id or r.name)
            except NotFound:
                raise NotFound(f"{kind} not found: {r.name or r.id}") from None
            r.id, r.name = obj.id, obj.name
            filerefs.normalize(kind, r)
    filerefs.check_refs(list(spec.task.secrets), list(spec.task.configs))


def task_files(t: TaskObj, snap: Snapshot) -> list[cpb.TaskFile]:
    """The values of a task's secrets (opened) and configs, for its node's assignment only."""
    out: list[cpb.TaskFile] = []
    key = snap.cluster.secrets_key if snap.cluster else b""
    for kind, refs in ((filerefs.SECRET, t.spec.secrets), (filerefs.CONFIG, t.spec.configs)):
        for r in refs:
            obj = _table(snap, kind).get(r.id)
            if obj is None:
                continue  # removed since (the store refuses that while a service uses it): the node rejects the task
            try:
                data = secretbox.open_sealed(key, obj.id, obj.data) if kind == filerefs.SECRET else obj.data
            except RuntimeFailure as exc:
                log.error("task %s: %s", t.id[:12], exc)  # sent without it: its node rejects the task
                continue
            out.append(cpb.TaskFile(id=obj.id, data=data))
    return out
