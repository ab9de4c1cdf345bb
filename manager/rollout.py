"""Roll a changed template out, as Swarm's updater does (pure: one service's tasks and the time in,
task changes and a status out). Called by the orchestrator for every service, each leader round.

Rules, with the policy from the spec's update_config (rollback_config while a rollback runs) and
Swarm's defaults for what it leaves unset (svc/updatepolicy.py):

- a rollout starts when live tasks are outdated (made from another spec version) and no rollout
  status stands: its status becomes `updating`, started now; a spec write clears the status, so
  `svc update` starts a new rollout or resumes a paused one;
- up to `parallelism` slots (0: all) are in flight at once: a slot is in flight from its new task's
  creation until it runs (or ended), and `delay` longer; outdated tasks that do not run go first;
- stop-first retires the old task as the new one is made; start-first keeps the old task running
  until the new one runs (orchestrator.pick_live keeps the pair, and gives up the old task when
  the new one cannot be placed because the old holds its host port);
- a task this rollout made that fails, is rejected or ends before it ran, or within `monitor` of
  running (the store records when it first ran), while the rollout has not completed, is a
  failure; failed slots over all slots above `max_failure_ratio` trigger `failure_action`:
  pause (status `paused`/`rollback_paused`), continue, or rollback (the previous spec comes back,
  status `rollback_started`, and its rollout follows rollback_config);
- the rollout completes `monitor` seconds after its last new task ran with nothing outdated left:
  `completed` / `rollback_completed`. A paused rollout replaces nothing until the spec is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from svc import updatepolicy

from .store.objects import (
    COMPLETE,
    FAILED,
    ORPHANED,
    REJECTED,
    RUNNING,
    SHUTDOWN,
    STATE_ORDER,
    ServiceObj,
    TaskObj,
    UpdateStatusObj,
    is_terminal,
)

UPDATING, PAUSED, COMPLETED = "updating", "paused", "completed"
ROLLBACK_STARTED, ROLLBACK_PAUSED, ROLLBACK_COMPLETED = "rollback_started", "rollback_paused", "rollback_completed"
FAILURES = (FAILED, REJECTED, COMPLETE, ORPHANED)  # "failure or early termination", as Swarm words it


class Ctx(Protocol):
    now: float
    plan: Any  # orchestrator.Plan

    def new_task(self, svc: ServiceObj, slot: int, node_id: str = "") -> TaskObj: ...

    def retire(self, task: TaskObj, desired: str) -> None: ...


def _set(ctx: Ctx, svc: ServiceObj, status: UpdateStatusObj, rollback: bool = False) -> None:
    ctx.plan.rollouts.append((svc.id, svc.version, status, rollback))


def step(ctx: Ctx, svc: ServiceObj, live: list[TaskObj], tasks: list[TaskObj], key: Callable[[TaskObj], Any]) -> None:
    """One round of `svc`'s rollout. `live`: each slot's (node's, for global) live task; `tasks`: all of
    the service's; `key`: a task's slot (or node)."""
    status = svc.update_status
    state = status.state if status else ""
    if state in (PAUSED, ROLLBACK_PAUSED):
        return
    outdated = [t for t in live if t.service_version != svc.spec_version]
    if state in ("", COMPLETED, ROLLBACK_COMPLETED):
        if not outdated:
            return
        status = UpdateStatusObj(UPDATING, started_at=ctx.now, message="update in progress")
        state = UPDATING
        _set(ctx, svc, status)
    assert status is not None
    rolling_back = state == ROLLBACK_STARTED
    policy = updatepolicy.effective(svc.spec.rollback_config if rolling_back else svc.spec.update_config)
    what = "rollback" if rolling_back else "update"
    mine = [t for t in tasks if t.service_version == svc.spec_version and t.created_at >= status.started_at]

    failed = [t for t in mine if t.state in FAILURES and _within_monitor(t, policy.monitor)]
    failed_slots = {key(t) for t in failed}
    if failed_slots and len(failed_slots) / max(len(live), 1) > policy.max_failure_ratio:
        first = min(failed, key=lambda t: (t.status.timestamp, t.id))
        why = f"due to failure or early termination of task {first.id}"
        if policy.failure_action == "rollback" and not rolling_back:
            if svc.previous_spec is not None:
                _set(
                    ctx,
                    svc,
                    UpdateStatusObj(ROLLBACK_STARTED, status.started_at, 0.0, f"update rolled back {why}"),
                    True,
                )
                return
            why += "; no previous spec to roll back to"
        if policy.failure_action != "continue":
            paused = ROLLBACK_PAUSED if rolling_back else PAUSED
            _set(ctx, svc, UpdateStatusObj(paused, status.started_at, 0.0, f"{what} paused {why}"))
            return

    newest: dict[Any, TaskObj] = {}  # each slot's newest task of this spec version (made by this rollout or not)
    for t in tasks:
        if t.service_version != svc.spec_version or t.desired_state != RUNNING:
            continue
        if key(t) not in newest or t.created_at > newest[key(t)].created_at:
            newest[key(t)] = t
    in_flight, last_ran = 0, status.started_at
    for t in newest.values():
        if not is_terminal(t.state) and STATE_ORDER[t.state] < STATE_ORDER[RUNNING]:
            in_flight += 1
            continue
        ran = t.started_at or t.status.timestamp  # it ran, or it ended without running
        if t.created_at >= status.started_at:
            last_ran = max(last_ran, ran)
        if ctx.now < ran + policy.delay:
            in_flight += 1
            ctx.plan.wake(ran + policy.delay)
    room = len(outdated) if policy.parallelism == 0 else policy.parallelism - in_flight
    for old in sorted(outdated, key=lambda t: (t.state == RUNNING, key(t)))[: max(room, 0)]:
        ctx.new_task(svc, old.slot, old.node_id if svc.is_global else "")
        if policy.order != "start-first" or old.state != RUNNING:
            ctx.retire(old, SHUTDOWN)
    if outdated or in_flight:
        return
    if ctx.now < last_ran + policy.monitor:
        ctx.plan.wake(last_ran + policy.monitor)
        return
    done = ROLLBACK_COMPLETED if rolling_back else COMPLETED
    _set(ctx, svc, UpdateStatusObj(done, status.started_at, ctx.now, f"{what} completed"))


def _within_monitor(task: TaskObj, monitor: float) -> bool:
    """A failure that counts: the task never ran, or it ended within `monitor` of running (node times both)."""
    return not task.started_at or task.status.timestamp - task.started_at <= monitor


def blocks_port(new: TaskObj, old: TaskObj) -> bool:
    """Whether a start-first pair must give up its old task: the new one waits for a host port the old holds."""
    from .scheduler import PORT_IN_USE, host_ports

    return (
        new.state == "pending"
        and PORT_IN_USE in new.status.message
        and bool(host_ports(new.spec) & host_ports(old.spec))
    )
