"""The agent's reconcile (pure): assigned tasks and local containers in, actions and statuses out.

Each container of a task carries the task's id in its labels, so the node's truth survives
an agent restart. The rules:

- a task the manager wants RUNNING and that has no container (and has not ended) is started;
- a task wanted SHUTDOWN/REMOVE whose container runs is stopped;
- a running container that turned unhealthy is stopped, and its task FAILED;
- a container whose task is no longer assigned, or that no task claims, is removed;
- each task's observed state follows its container; the worker sends only what moves it forward
  (svc.taskstate.moves_forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from svc.taskstate import ON_NODE, TERMINAL
from svc.v1 import cluster_pb2 as cpb

TASK_LABEL = "svc.task.id"
SERVICE_LABEL = "svc.service.name"
SERVICE_ID_LABEL = "svc.service.id"
SLOT_LABEL = "svc.task.slot"
NODE_LABEL = "svc.node.id"


@dataclass(frozen=True)
class Start:
    task: cpb.Task


@dataclass(frozen=True)
class Stop:
    task_id: str
    container_id: str
    reason: str  # "shutdown" (wanted) or "unhealthy"


@dataclass(frozen=True)
class Remove:
    container_id: str


Action = Start | Stop | Remove


@dataclass(frozen=True)
class Observed:
    """What the agent knows of a task beyond its container: how it last ended or failed to start."""

    state: str
    message: str = ""
    err: str = ""
    exit_code: int = 0


def container_status(c: Any, stopping: str = "") -> cpb.TaskStatus:
    """The task status a container stands for. `stopping` is why the agent stopped it, if it did."""
    health = c.health.status if c.health else ""
    if c.state == "running":
        if health in ("", "healthy"):
            return cpb.TaskStatus(state="running", message="started", container_id=c.id, health=health)
        return cpb.TaskStatus(
            state="starting", message=f"waiting for the health check ({health})", container_id=c.id, health=health
        )
    if c.state == "created":
        return cpb.TaskStatus(state="ready", message="created", container_id=c.id)
    # exited
    if stopping == "unhealthy":
        return cpb.TaskStatus(
            state="failed",
            message="unhealthy container",
            err="task: container is unhealthy",
            exit_code=c.exit_code,
            container_id=c.id,
            health=health,
        )
    if stopping == "shutdown":
        return cpb.TaskStatus(state="shutdown", message="shut down", exit_code=c.exit_code, container_id=c.id)
    if c.oom_killed:
        return cpb.TaskStatus(
            state="failed",
            message="OOM killed",
            err="task: OOM killed (memory limit)",
            exit_code=c.exit_code,
            container_id=c.id,
        )
    if c.exit_code == 0:
        return cpb.TaskStatus(state="complete", message="finished", container_id=c.id)
    return cpb.TaskStatus(
        state="failed",
        message="started",
        err=f"task: non-zero exit ({c.exit_code})",
        exit_code=c.exit_code,
        container_id=c.id,
    )


def plan(
    assigned: dict[str, cpb.Task],
    containers: list[Any],
    busy: set[str],
    ended: dict[str, Observed],
    stopping: dict[str, str],
) -> tuple[list[Action], dict[str, cpb.TaskStatus]]:
    """Decide what to do. `busy`: task ids with an action in flight; `ended`: tasks that failed
    to start or whose container is gone; `stopping`: task id -> why the agent stopped it."""
    actions: list[Action] = []
    statuses: dict[str, cpb.TaskStatus] = {}
    by_task: dict[str, list[Any]] = {}
    for c in containers:
        tid = c.spec.labels.get(TASK_LABEL, "")
        if not tid:
            continue  # not ours: `svc container run` containers are left alone
        by_task.setdefault(tid, []).append(c)
    for tid, group in by_task.items():
        task = assigned.get(tid)
        if task is None:
            actions += [Remove(c.id) for c in group if c.id not in busy]  # removals are busy by container id
            continue
        group.sort(key=lambda c: c.started_at)
        actions += [Remove(extra.id) for extra in group[:-1] if extra.id not in busy]
    for tid, task in assigned.items():
        group = by_task.get(tid, [])
        c = group[-1] if group else None
        if tid in busy:
            continue
        wanted = task.desired_state == "running"
        if c is None:
            if tid in ended:
                o = ended[tid]
                statuses[tid] = cpb.TaskStatus(state=o.state, message=o.message, err=o.err, exit_code=o.exit_code)
            elif wanted and task.status.state in ON_NODE:
                actions.append(Start(task))
            elif not wanted and task.status.state not in TERMINAL:
                statuses[tid] = cpb.TaskStatus(state="shutdown", message="shut down before it started")
            continue
        if c.state == "running" and tid not in stopping:
            if not wanted:
                actions.append(Stop(tid, c.id, "shutdown"))
                continue
            if c.health and c.health.status == "unhealthy":
                actions.append(Stop(tid, c.id, "unhealthy"))
                continue
        statuses[tid] = container_status(c, stopping.get(tid, ""))
    return actions, statuses
