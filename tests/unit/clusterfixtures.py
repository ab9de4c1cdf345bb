"""Build store snapshots for pure tests of the orchestrator and scheduler."""

from __future__ import annotations

import itertools
from dataclasses import replace

from manager.store.objects import NODE_READY, RUNNING, NodeObj, ServiceObj, TaskObj, TaskStatusObj
from manager.store.state import Snapshot
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

_ids = itertools.count(1)


def ids() -> str:
    return f"t{next(_ids):04d}"


def node(
    name: str,
    cpus: float = 2,
    mem_gb: float = 4,
    labels: dict[str, str] | None = None,
    state: str = NODE_READY,
    availability: str = "active",
    role: str = "worker",
) -> NodeObj:
    desc = cpb.NodeDescription(
        hostname=name,
        nano_cpus=int(cpus * 1e9),
        memory_bytes=int(mem_gb * (1 << 30)),
        runtime="runc",
        images=["busybox:latest"],
        os="linux",
        architecture="amd64",
    )
    return NodeObj(
        id="n-" + name,
        role=role,
        availability=availability,
        state=state,
        labels=labels or {},
        description=desc,
        version=1,
    )


def service(name: str = "web", replicas: int = 3, mode: str = "replicated", **kw: object) -> ServiceObj:
    spec = cpb.ServiceSpec(name=name, mode=mode, replicas=replicas, task=pb.ContainerSpec(image="busybox"))
    for k, v in kw.items():
        if k == "constraints":
            spec.placement.constraints.extend(v)  # type: ignore[arg-type]
        elif k == "max_per_node":
            spec.placement.max_replicas_per_node = v  # type: ignore[assignment]
        elif k == "reserve_mem":
            spec.reservations.memory_bytes = v  # type: ignore[assignment]
        elif k == "restart_delay":
            spec.restart.delay_seconds = v  # type: ignore[assignment]
        elif k == "restart_condition":
            spec.restart.condition = v  # type: ignore[assignment]
    return ServiceObj(id="s-" + name, spec=spec, version=1)


def task(
    svc: ServiceObj,
    slot: int,
    node_id: str = "",
    state: str = RUNNING,
    desired: str = RUNNING,
    ts: float = 0.0,
    version: int = 1,
    created: float = 0.0,
) -> TaskObj:
    return TaskObj(
        id=ids(),
        service_id=svc.id,
        slot=slot,
        spec=svc.spec.task,
        service_version=svc.spec_version,
        desired_state=desired,
        node_id=node_id,
        status=TaskStatusObj(state=state, timestamp=ts),
        version=version,
        created_at=created,
    )


def snap(nodes: list[NodeObj], services: list[ServiceObj], tasks: list[TaskObj]) -> Snapshot:
    return Snapshot(
        seq=1,
        cluster=None,
        nodes={n.id: n for n in nodes},
        services={s.id: s for s in services},
        tasks={t.id: t for t in tasks},
    )


def bump(s: ServiceObj, **changes: object) -> ServiceObj:
    return replace(s, **changes)  # type: ignore[arg-type]
