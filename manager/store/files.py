"""Secrets and configs inside the store's apply: create, update (labels), remove, the data key, services' references.

One code path for both kinds: a secret's `data` arrives sealed (the proposer seals it with the
cluster's data key, manager/secretbox.py), a config's as it is; apply stores bytes and never
encrypts or decrypts. Removal is refused while a service's spec references the object, naming the
services; a service is refused when it references one that does not exist. Like every handler:
no raise, no clock, no randomness.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

from .objects import FileObj, ServiceObj

NOT_FOUND, ALREADY_EXISTS, INVALID, CONFLICT = "NotFound", "AlreadyExists", "InvalidArgument", "Conflict"
OUT_OF_DATE = "OutOfDate"
Result = tuple[str, Any]
KINDS = ("secret", "config")


def refs(spec: pb.ContainerSpec, kind: str) -> Iterable[pb.FileReference]:
    return spec.secrets if kind == "secret" else spec.configs


def encode(f: FileObj) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "name": f.name,
        "data": f.data,
        "labels": dict(f.labels),
        "version": f.version,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
    }


def decode(d: dict[str, Any]) -> FileObj:
    return FileObj(**{k: v for k, v in d.items() if k in FileObj.__dataclass_fields__})


def create(table: dict[str, FileObj], op: dict[str, Any], seq: int) -> Result:
    kind = op["kind"]
    if kind not in KINDS:
        return INVALID, f"invalid kind {kind!r}"
    if any(f.name == op["file_name"] for f in table.values()):
        return ALREADY_EXISTS, f"{kind} {op['file_name']} already exists"
    if op["id"] in table:
        return ALREADY_EXISTS, f"{kind} id {op['id']} already exists"
    obj = FileObj(
        id=op["id"],
        kind=kind,
        name=op["file_name"],
        data=op["data"],
        labels=dict(op.get("labels", {})),
        version=seq,
        created_at=op["ts"],
        updated_at=op["ts"],
    )
    table[obj.id] = obj
    return "", obj.version


def update(table: dict[str, FileObj], op: dict[str, Any], seq: int) -> Result:
    """New labels (swarmkit's only change of a secret or config), compare-and-set on the version read."""
    kind = op["kind"]
    obj = table.get(op["id"])
    if obj is None or obj.kind != kind:
        return NOT_FOUND, f"no such {kind}: {op['id']}"
    if op["expect_version"] != obj.version:
        return OUT_OF_DATE, f"{kind} {obj.name} changed since it was read (update out of sequence); retry"
    table[obj.id] = replace(obj, labels=dict(op["labels"]), version=seq, updated_at=op["ts"])
    return "", seq


def users(services: Iterable[ServiceObj], kind: str, obj_id: str) -> list[str]:
    """Names of the services whose spec references the object (swarmkit's rule: a previous spec does
    not hold it, and a rollback to one that names a removed secret is refused as any spec would be)."""
    return sorted(s.name for s in services if any(r.id == obj_id for r in refs(s.spec.task, kind)))


def remove(table: dict[str, FileObj], op: dict[str, Any], services: Iterable[ServiceObj]) -> Result:
    kind = op["kind"]
    obj = table.get(op["id"])
    if obj is None or obj.kind != kind:
        return NOT_FOUND, f"no such {kind}: {op['id']}"
    using = users(services, kind, obj.id)
    if using:
        return CONFLICT, f"{kind} {obj.name} is in use by service {', '.join(using)}: remove it from them first"
    del table[obj.id]
    return "", None


def missing(spec: cpb.ServiceSpec, secrets: dict[str, FileObj], configs: dict[str, FileObj]) -> Result | None:
    """The refusal for a spec that references a secret or config the store does not hold, else None."""
    for kind, table in (("secret", secrets), ("config", configs)):
        for r in refs(spec.task, kind):
            if r.id not in table:
                return NOT_FOUND, f"{kind} not found: {r.name or r.id} (it was removed meanwhile?)"
    return None


def set_key(current: bytes, key: bytes) -> Result:
    """The data key is set once: a second proposal (another leader's race) keeps the first."""
    if current:
        return "", False
    if len(key) != 32:
        return INVALID, "the data key must be 32 bytes"
    return "", True
