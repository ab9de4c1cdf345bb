"""One leader round's decision as a pure function: a snapshot and the time in, task writes out.

The orchestrator says which tasks to create, retire and delete; the scheduler places every
pending task, the orchestrator's new ones and those still waiting from earlier rounds. This
module merges the two into one set of task writes: new tasks go in assigned or pending with
the scheduler's reason, waiting tasks get their node or a fresher reason, and a task the
orchestrator already changes this round is not scheduled again. No I/O, no clock: the leader
loop (leader.py) commits what this returns, in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import orchestrator, scheduler
from .store import ops
from .store.objects import ASSIGNED, NEW, PENDING, RUNNING, TaskObj, TaskStatusObj, UpdateStatusObj
from .store.state import Snapshot

Update = tuple[str, int, dict[str, Any]]  # (task id, expected version, changed fields), as ops.tasks_write takes


@dataclass
class RoundPlan:
    create: list[TaskObj] = field(default_factory=list)
    update: list[Update] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    rollouts: list[tuple[str, int, UpdateStatusObj, bool]] = field(default_factory=list)  # orchestrator.Plan's
    placements: int = 0  # tasks the scheduler placed (for the leader's stats)
    wake_at: float | None = None  # when the orchestrator wants another round (a restart delay ends)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete or self.rollouts)

    def batches(self, size: int) -> list[tuple[list[TaskObj], list[Update], list[str]]]:
        """(create, update, delete) per Raft write, at most `size` creates and updates each; the
        deletes go with the first."""
        return [
            (self.create[i : i + size], self.update[i : i + size], self.delete if i == 0 else [])
            for i in range(0, max(len(self.create), len(self.update), 1), size)
        ]


def plan_round(snap: Snapshot, now: float, new_id: Callable[[], str] = ops.new_id) -> RoundPlan:
    plan = orchestrator.reconcile(snap, now, new_id)
    waiting = still_waiting(snap, plan)
    placements, unplaced = scheduler.schedule(snap, waiting + plan.create)
    where = {p.task_id: p.node_id for p in placements}
    create = [_placed(t, where.get(t.id), unplaced.get(t.id, ""), now) for t in plan.create]
    update = list(plan.update)
    for t in waiting:
        if t.id in where:
            status = TaskStatusObj(state=ASSIGNED, timestamp=now, message="scheduled")
            update.append((t.id, t.version, {"node_id": where[t.id], "status": ops.encode_status(status)}))
        elif t.id in unplaced and unplaced[t.id] != t.status.message:
            # Still waiting, for a new reason: say so, but keep the time it started waiting.
            status = TaskStatusObj(state=PENDING, timestamp=t.status.timestamp or now, message=unplaced[t.id])
            update.append((t.id, t.version, {"status": ops.encode_status(status)}))
    return RoundPlan(create, update, list(plan.delete), list(plan.rollouts), len(placements), plan.wake_at)


def still_waiting(snap: Snapshot, plan: orchestrator.Plan) -> list[TaskObj]:
    """Tasks waiting for a node from earlier rounds that the orchestrator's `plan` does not change."""
    touched = {tid for tid, _, _ in plan.update} | set(plan.delete)
    return [
        t
        for t in snap.tasks.values()
        if t.desired_state == RUNNING and t.state in (NEW, PENDING) and t.id not in touched
    ]


def _placed(task: TaskObj, node_id: str | None, reason: str, now: float) -> TaskObj:
    if node_id:
        return replace(task, node_id=node_id, status=TaskStatusObj(state=ASSIGNED, timestamp=now, message="scheduled"))
    return replace(task, status=TaskStatusObj(state=PENDING, timestamp=now, message=reason))
