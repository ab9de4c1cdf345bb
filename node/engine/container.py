"""A container's record: what was asked, what is, persisted as `containers/<id>/container.json`.

The record is the daemon's memory across restarts (live restore): on start-up the
engine reloads every record and reconciles it with what conmon and the runtime report.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf import json_format

from svc import defaults
from svc.fsutil import read_json, write_json
from svc.v1 import container_pb2 as pb

from .health import HealthState, Probe

CREATED, RUNNING, EXITED = "created", "running", "exited"
RECORD = "container.json"


@dataclass
class ExecContext:
    """How `exec` and health probes run inside the container: the container's own identity."""

    env: list[str]
    cwd: str
    uid: int
    gid: int
    capabilities: list[str]
    rlimits: list[dict[str, Any]] = field(default_factory=list)  # the container's OCI rlimits (Docker's exec has them)


@dataclass
class Container:
    id: str
    name: str
    image: str
    image_id: str
    spec: pb.ContainerSpec
    created_at: float
    runtime: str
    cgroups_path: str
    network: str
    state: str = CREATED
    pid: int = 0
    conmon_pid: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    oom_killed: bool = False
    ip: str = ""
    error: str = ""
    command: list[str] = field(default_factory=list)
    health: HealthState = field(default_factory=HealthState)
    exec_context: ExecContext | None = None
    stop_signal: int = 15
    stop_grace: float = defaults.STOP_GRACE_SECONDS

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["spec"] = json_format.MessageToDict(self.spec, preserving_proto_field_name=True)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Container:
        doc = dict(doc)
        doc["spec"] = json_format.ParseDict(doc.get("spec") or {}, pb.ContainerSpec(), ignore_unknown_fields=True)
        health = doc.get("health") or {}
        doc["health"] = HealthState(
            status=health.get("status", ""),
            failing_streak=health.get("failing_streak", 0),
            log=tuple(Probe(**p) for p in health.get("log", ())),
        )
        if doc.get("exec_context"):
            doc["exec_context"] = ExecContext(**doc["exec_context"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})

    def save(self, directory: str, fsync: bool = True) -> None:
        write_json(os.path.join(directory, RECORD), self.to_json(), mode=0o600, fsync=fsync)

    @classmethod
    def load(cls, directory: str) -> Container | None:
        doc = read_json(os.path.join(directory, RECORD))
        return cls.from_json(doc) if doc else None
