"""Reconcile services with their tasks (pure: a snapshot and the time in, task changes out).

Replicated services own slots; global services own one task per eligible node. The live
task of a slot (or node) is the one whose desired state is RUNNING. The orchestrator:

- adds slots on scale-up (lowest free numbers) and removes slots on scale-down, choosing
  tasks that are not running first, then nodes holding the most replicas, then high slots;
- replaces live tasks whose node is down, gone or drained (at once) and tasks that ended,
  as the restart policy says (after its delay);
- rolls out a changed template as the service's update policy says (rollout.py: parallelism,
  delay, stop-first or start-first, failure action), waiting for each new task to run (be
  healthy, where it has a check); a slot keeps one live task, or two while a start-first
  replacement starts (pick_live);
- keeps 5 old tasks per slot and deletes the rest, and deletes removed tasks once their node
  confirmed they stopped (or can no longer confirm it).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svc import defaults

from . import rollout, scheduler
from .store import ops
from .store.objects import (
    COMPLETE,
    DRAIN,
    FAILED,
    NODE_READY,
    PENDING,
    REJECTED,
    REMOVE,
    RUNNING,
    SHUTDOWN,
    ServiceObj,
    TaskObj,
    TaskStatusObj,
    UpdateStatusObj,
    is_terminal,
)
from .store.state import Snapshot


@dataclass
class Plan:
    create: list[TaskObj] = field(default_factory=list)
    update: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    # (service id, its version, status, roll back): rollout progress for the leader to write (rollout.py)
    rollouts: list[tuple[str, int, UpdateStatusObj, bool]] = field(default_factory=list)
    wake_at: float | None = None

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete or self.rollouts)

    def wake(self, when: float) -> None:
        self.wake_at = when if self.wake_at is None else min(self.wake_at, when)

    def set_desired(self, task: TaskObj, desired: str) -> None:
        self.update.append((task.id, task.version, {"desired_state": desired}))


class _Ctx:
    def __init__(self, snap: Snapshot, now: float, new_id: Callable[[], str]) -> None:
        self.snap = snap
        self.now = now
        self.new_id = new_id
        self.plan = Plan()

    def node_usable(self, node_id: str) -> bool:
        node = self.snap.nodes.get(node_id)
        return node is not None and node.state == NODE_READY and node.availability != DRAIN

    def new_task(self, svc: ServiceObj, slot: int, node_id: str = "") -> TaskObj:
        task = TaskObj(
            id=self.new_id(),
            service_id=svc.id,
            slot=slot,
            spec=svc.spec.task,
            service_version=svc.spec_version,
            desired_state=RUNNING,
            node_id=node_id,
            status=TaskStatusObj(state=PENDING, timestamp=self.now),
            created_at=self.now,
        )
        self.plan.create.append(task)
        return task

    def retire(self, task: TaskObj, desired: str) -> None:
        _retire(self, task, desired)


def _should_restart(svc: ServiceObj, task: TaskObj, history: list[TaskObj]) -> bool:
    policy = svc.spec.restart
    condition = policy.condition or "any"
    if condition == "none":
        return False
    if condition == "on-failure" and task.state not in (FAILED, REJECTED):
        return False
    if policy.max_attempts:
        attempts = sum(1 for t in history if t.state in (FAILED, REJECTED, COMPLETE))
        return attempts < policy.max_attempts
    return True


def _restart_delay(svc: ServiceObj) -> float:
    policy = svc.spec.restart
    return policy.delay_seconds if policy.HasField("delay_seconds") else defaults.RESTART_DELAY_SECONDS


def reconcile(snap: Snapshot, now: float, new_id: Callable[[], str] = ops.new_id) -> Plan:
    ctx = _Ctx(snap, now, new_id)
    by_service: dict[str, list[TaskObj]] = collections.defaultdict(list)
    for task in snap.tasks.values():
        by_service[task.service_id].append(task)
    for service_id, tasks in by_service.items():
        svc = snap.services.get(service_id)
        if svc is None:
            _collect_removed(ctx, tasks)
        elif svc.is_global:
            _global(ctx, svc, tasks)
        else:
            _replicated(ctx, svc, tasks)
    for svc in snap.services.values():
        if svc.id not in by_service:
            if svc.is_global:
                _global(ctx, svc, [])
            else:
                _replicated(ctx, svc, [])
    return ctx.plan


def _live(task: TaskObj) -> bool:
    return task.desired_state == RUNNING


def _collect_removed(ctx: _Ctx, tasks: list[TaskObj]) -> None:
    """Tasks of deleted services: stop them; delete them once stopped or unconfirmable."""
    for task in tasks:
        if task.desired_state != REMOVE:
            ctx.plan.set_desired(task, REMOVE)
        elif is_terminal(task.state) or not task.node_id or not ctx.node_usable(task.node_id):
            ctx.plan.delete.append(task.id)


def _retire(ctx: _Ctx, task: TaskObj, desired: str) -> None:
    """Stop a task: unassigned ones end at once, assigned ones wait for their node."""
    if not task.node_id and not is_terminal(task.state):
        status = ops.encode_status(TaskStatusObj(state=SHUTDOWN, timestamp=ctx.now, message="removed before it ran"))
        ctx.plan.update.append((task.id, task.version, {"desired_state": desired, "status": status}))
    else:
        ctx.plan.set_desired(task, desired)


def _prune(ctx: _Ctx, history: list[TaskObj]) -> None:
    """Old tasks of one slot (desired SHUTDOWN/REMOVE): delete the confirmed REMOVEs and all but the newest 5."""
    kept = 0
    for task in sorted(history, key=lambda t: t.created_at, reverse=True):
        gone = task.desired_state == REMOVE and (
            is_terminal(task.state) or not task.node_id or not ctx.node_usable(task.node_id)
        )
        if gone:
            ctx.plan.delete.append(task.id)
        elif is_terminal(task.state) or not task.node_id:
            kept += 1
            if kept > defaults.TASK_HISTORY_PER_SLOT:
                ctx.plan.delete.append(task.id)


def _handle_live(ctx: _Ctx, svc: ServiceObj, task: TaskObj, history: list[TaskObj]) -> bool:
    """Deal with a slot's live task. Returns True if it was retired and replaced."""
    if task.node_id and not ctx.node_usable(task.node_id):
        _retire(ctx, task, SHUTDOWN)
        ctx.new_task(svc, task.slot, task.node_id if svc.is_global else "")
        return True
    if is_terminal(task.state):
        if not _should_restart(svc, task, history):
            return False
        delay = _restart_delay(svc)
        if ctx.now < task.status.timestamp + delay:
            ctx.plan.wake(task.status.timestamp + delay)
            return False
        _retire(ctx, task, SHUTDOWN)
        ctx.new_task(svc, task.slot, task.node_id if svc.is_global else "")
        return True
    return False


def pick_live(ctx: _Ctx, svc: ServiceObj, current: list[TaskObj]) -> TaskObj:
    """A slot's live task among several (sorted by creation): the newest of the current spec version,
    else the newest. Another one stays beside it only while it does not run yet (a start-first
    replacement), unless it waits for a host port that other one holds; the rest are retired."""
    up = [t for t in current if t.service_version == svc.spec_version]
    primary = up[-1] if up else current[-1]
    keep = {primary.id}
    if primary.state != RUNNING:
        others = [
            t
            for t in current
            if t is not primary and not is_terminal(t.state) and (not t.node_id or ctx.node_usable(t.node_id))
        ]
        if others and not rollout.blocks_port(primary, others[-1]):
            keep.add(others[-1].id)
    for extra in current:
        if extra.id not in keep:
            _retire(ctx, extra, SHUTDOWN)
    return primary


def _replicated(ctx: _Ctx, svc: ServiceObj, tasks: list[TaskObj]) -> None:
    slots: dict[int, list[TaskObj]] = collections.defaultdict(list)
    for task in tasks:
        slots[task.slot].append(task)
    live: dict[int, TaskObj] = {}
    for slot, group in slots.items():
        current = [t for t in group if _live(t)]
        current.sort(key=lambda t: t.created_at)
        if current:
            live[slot] = pick_live(ctx, svc, current)
        _prune(ctx, [t for t in group if not _live(t)])
    want = svc.spec.replicas
    if len(live) > want:
        per_node = collections.Counter(t.node_id for t in live.values())
        for _ in range(len(live) - want):
            # Re-rank after each pick: removing a task makes its node less busy.
            task = min(live.values(), key=lambda t: (t.state == RUNNING, -per_node[t.node_id], -t.slot))
            per_node[task.node_id] -= 1
            _retire(ctx, task, REMOVE)
            for old in slots[task.slot]:
                if not _live(old) and old.desired_state != REMOVE:
                    ctx.plan.set_desired(old, REMOVE)
            del live[task.slot]
    replaced = False
    for slot, task in sorted(live.items()):
        replaced |= _handle_live(ctx, svc, task, [t for t in slots[slot] if t is not task])
    if len(live) < want:
        used = set(live)
        slot = 1
        for _ in range(want - len(live)):
            while slot in used:
                slot += 1
            used.add(slot)
            ctx.new_task(svc, slot)
    if not replaced:
        rollout.step(ctx, svc, list(live.values()), tasks, lambda t: t.slot)


def _global(ctx: _Ctx, svc: ServiceObj, tasks: list[TaskObj]) -> None:
    eligible = {n.id for n in scheduler.eligible_for_global(ctx.snap, svc)}
    by_node: dict[str, list[TaskObj]] = collections.defaultdict(list)
    for task in tasks:
        by_node[task.node_id].append(task)
    live: list[TaskObj] = []
    for node_id, group in by_node.items():
        current = sorted((t for t in group if _live(t)), key=lambda t: t.created_at)
        _prune(ctx, [t for t in group if not _live(t)])
        if not current:
            continue
        task = pick_live(ctx, svc, current)
        if node_id not in eligible:
            if ctx.node_usable(node_id) or node_id not in ctx.snap.nodes:
                _retire(ctx, task, SHUTDOWN)
            continue  # a down node keeps its task until it returns; no replacement elsewhere
        if not _handle_live(ctx, svc, task, [t for t in group if t is not task]):
            live.append(task)
    for node_id in sorted(eligible - {t.node_id for t in live} - {t.node_id for t in ctx.plan.create}):
        if not any(_live(t) and t.node_id == node_id for t in tasks):
            ctx.new_task(svc, 0, node_id)
    rollout.step(ctx, svc, live, tasks, lambda t: t.node_id)
