"""What a waiting `svc create|scale|update|rollback` concludes from one look at its service; pure.

Rule: a wait is for the result its own write asked for. It ends in failure, at once, when another
write changed the service meanwhile (`replicas changed to 8 by another update`) or when a task
started for it failed with a reason; it succeeds only when the service runs its desired tasks
(for a global service the managers count one per eligible node) with nothing still stopping.
An update's rollout status (the service's UpdateStatus, once the leader started it after our write)
decides too: paused ends the wait in failure with its message; a rollback it started is waited for,
and ends the wait in failure once done (the update did not happen) — docker says so and exits 0.
"""

from __future__ import annotations

from typing import Any

from svc.reference import familiar

FAILED_STATES = ("failed", "rejected")


def changed_by_another(written: Any, current: Any) -> str:
    """How `current` (the service's spec now) differs from the spec our write left ('' if not at all)."""
    if current == written:
        return ""
    if (current.mode or "replicated") != (written.mode or "replicated"):
        return f"mode changed to {current.mode or 'replicated'} by another update"
    if current.mode != "global" and current.replicas != written.replicas:
        return f"replicas changed to {current.replicas} by another update"
    if current.task.image != written.task.image:
        return f"image changed to {familiar(current.task.image)} by another update"
    return "changed by another update"


def first_failure(tasks: list[Any], since: float) -> str:
    """The reason the earliest task made at or after `since` (our write) failed ('' if none failed with one)."""
    failed = [
        t
        for t in tasks
        if t.created_at >= since and t.status.state in FAILED_STATES and (t.status.err or t.status.message)
    ]
    if not failed:
        return ""
    t = min(failed, key=lambda t: (t.status.timestamp, t.id))
    label = f"{t.service_name}.{t.slot}" if t.slot else f"{t.service_name}.{t.node_id[:12]}"
    return f"task {label} {t.status.state}: {t.status.err or t.status.message}"


def converged(svc: Any, tasks: list[Any], fresh_since: float = 0.0) -> bool:
    """The desired tasks run and no task on its way out still runs on a node; with `fresh_since` (an
    update that replaces tasks) every task that should run was made at or after it."""
    from svc.taskstate import ON_NODE

    if svc.running != svc.desired:
        return False
    if fresh_since and any(t.desired_state == "running" and t.created_at < fresh_since for t in tasks):
        return False
    return not any(t.desired_state != "running" and t.status.state in ON_NODE for t in tasks)


def replaces_tasks(old: Any, new: Any) -> bool:
    """Whether going from spec `old` to `new` replaces running tasks (anything but replicas, labels and the
    update and rollback policies changed, as the managers decide it)."""
    a, b = type(old)(), type(new)()
    a.CopyFrom(old)
    b.CopyFrom(new)
    for m in (a, b):
        m.replicas = 0
        m.labels.clear()
        m.ClearField("update_config")
        m.ClearField("rollback_config")
    return bool(a != b)


PAUSED_STATES = ("paused", "rollback_paused")
ROLLBACK_STATES = ("rollback_started", "rollback_completed")


def rollout_state(svc: Any, since: float) -> str:
    """The state of the rollout the managers started at or after `since` (our write), '' if none."""
    if not svc.HasField("update_status") or svc.update_status.started_at < since:
        return ""
    return str(svc.update_status.state)


def rollout_failure(svc: Any, since: float) -> str:
    """Why the wait for a rollout ends in failure now ('' if it does not): a paused update or rollback."""
    state = rollout_state(svc, since)
    if state in PAUSED_STATES:
        return f"{state.replace('_', ' ')}: {svc.update_status.message}"
    return ""
