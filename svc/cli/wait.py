"""The wait of `svc create|scale|update|rollback`: until the service runs what the write asked for.

Rule: what one look at the service means is waitplan's (pure); this module reads, retries those
reads through a leader change (the write has landed already, so the outcome reported is the
cluster's), shows progress on a terminal, and explains a stall.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from svc import defaults
from svc.errors import DeadlineExceeded, SvcError, Unavailable


def wait_converged(
    c: Any,
    names: list[str],
    timeout: float = defaults.CLI_WAIT_SECONDS,
    written: dict[str, Any] | None = None,
    fresh: dict[str, float] | None = None,
    rollbacks: tuple[str, ...] = (),
    updates: tuple[str, ...] = (),
) -> int:
    """Wait until each service runs its desired tasks; show progress; explain a stall.

    `fresh` maps a name to the time of an update that replaces its tasks: only tasks made since count.
    Converged must hold for CLI_MONITOR_SECONDS (docker's monitor period, shorter) before it is believed.
    `written` maps a name to the Service our write returned: the wait then ends at once, non-zero,
    when another write changes that spec meanwhile, when a task made after our write fails with a
    reason, when its rollout pauses, or once the rollback its failure started is done (waitplan
    decides; `rollbacks` and `updates` name the services whose wait is for a rollback or an update).
    A service whose tasks cannot be placed (pending with a reason) and that made no progress for CLI_STALL_SECONDS is
    reported with that reason instead of being waited for. The write being waited for has landed
    already, so a read that fails during a leader change is tried again (`_Reader`), and the
    outcome reported is the cluster's, not the election's.
    """
    from svc.cli import waitplan
    from svc.v1 import control_pb2 as ctl

    written, fresh = written or {}, fresh or {}
    tty = sys.stderr.isatty()
    deadline = time.monotonic() + timeout
    read = _Reader(c, deadline)
    pending = list(names)
    progress: dict[str, tuple[int, float]] = {}
    failed: list[tuple[str, str]] = []
    reasons: dict[str, str] = {}  # why the managers rolled an update back
    done: dict[str, Any] = {}
    stable: dict[str, float] = {}
    last = ""
    while pending:
        states = []
        now = time.monotonic()
        for name in list(pending):
            try:
                svc = read("GetService", ctl.ServiceRef(service=name))
                states.append(f"{name}: {svc.running}/{svc.desired}")
                mine = written.get(name)
                since = (mine.updated_at or mine.created_at) if mine is not None else 0.0
                rollout = waitplan.rollout_state(svc, since) if mine is not None else ""
                # a rollback the managers started for our update: its spec change is no other writer's
                rolled_back = rollout in waitplan.ROLLBACK_STATES and name not in (rollbacks or ())
                if rolled_back and rollout == "rollback_started":
                    reasons.setdefault(name, svc.update_status.message)
                paused = waitplan.rollout_failure(svc, since) if mine is not None else ""
                changed = waitplan.changed_by_another(mine.spec, svc.spec) if mine is not None else ""
                if paused or (changed and not rolled_back):
                    failed.append((name, paused or changed))
                    pending.remove(name)
                    continue
                tasks = list(read("ListTasks", ctl.ListTasksRequest(service=name)).tasks)
                # a policy that rolls back on a failure: the rollout, not the first failure, decides
                policy = mine.spec.update_config.failure_action if mine is not None else ""
                watch = mine is not None and not rolled_back and not (name in updates and policy == "rollback")
                broken = waitplan.first_failure(tasks, since) if watch else ""
                if broken:
                    failed.append((name, broken))
                    pending.remove(name)
                    continue
                if waitplan.converged(svc, tasks, fresh.get(name, 0.0)):
                    if rolled_back and rollout != "rollback_completed":
                        continue
                    steady = stable.setdefault(name, now)  # held for CLI_MONITOR_SECONDS: no instant exit
                    if now - steady >= defaults.CLI_MONITOR_SECONDS:
                        if rolled_back:
                            failed.append((name, f"update rolled back: {reasons.get(name) or 'rollback completed'}"))
                        else:
                            done[name] = svc
                        pending.remove(name)
                    continue
                stable.pop(name, None)
                seen, since = progress.get(name, (-1, now))
                if svc.running != seen:
                    progress[name] = (svc.running, now)
                elif now - since > defaults.CLI_STALL_SECONDS:
                    why = _why(read, name, stalled_only=True)
                    if why:
                        failed.append((name, f"not converged: {why}"))
                        pending.remove(name)
            except SvcError as exc:  # retried as long as it made sense: the real outcome
                failed.append((name, f"not converged: cannot follow it: {exc}"))
                pending.remove(name)
        line = "  ".join(states)
        if tty and line != last:
            sys.stderr.write(f"\r\033[K{line}")
            sys.stderr.flush()
            last = line
        if not pending:
            break
        if time.monotonic() > deadline:
            for name in pending:
                try:
                    why = _why(read, name)
                except SvcError as exc:
                    why = f"cannot follow it: {exc}"
                failed.append((name, f"not converged: {why or 'tasks are still starting'}"))
            break
        time.sleep(0.2)
    if tty:
        sys.stderr.write("\n")
    for name in names:
        if name in done:
            print(f"{name}: {done[name].running}/{done[name].desired} running")
    for name, why in failed:
        print(f"svc: {name}: {why}", file=sys.stderr)
    return len(failed)


class _Reader:
    """A wait's reads, tried again while the managers change leader.

    Unavailable and DeadlineExceeded from a manager (a follower that found no leader yet) are
    retried until the wait's deadline; losing the manager this CLI talks to is retried for
    CLI_TARGET_LOST_SECONDS (it may be restarting), then reported. Other errors are real answers.
    """

    def __init__(self, c: Any, deadline: float) -> None:
        self.c = c
        self.deadline = deadline

    def __call__(self, method: str, request: Any) -> Any:
        from svc.client import TargetUnreachable

        lost_since: float | None = None
        while True:
            now = time.monotonic()
            timeout = min(defaults.CLI_RPC_TIMEOUT_SECONDS, max(self.deadline - now, 1.0))
            try:
                return getattr(self.c, method)(request, timeout=timeout)
            except (Unavailable, DeadlineExceeded) as exc:
                now = time.monotonic()
                if isinstance(exc, TargetUnreachable):
                    lost_since = now if lost_since is None else lost_since
                    if now - lost_since >= defaults.CLI_TARGET_LOST_SECONDS:
                        raise
                else:
                    lost_since = None
                if now + defaults.CLI_WAIT_RETRY_SECONDS >= self.deadline:
                    raise
            time.sleep(defaults.CLI_WAIT_RETRY_SECONDS)


def _why(read: Any, name: str, stalled_only: bool = False) -> str:
    """Why tasks of `name` do not run: pending reasons and task errors ('' if none is known)."""
    from svc.v1 import control_pb2 as ctl

    reasons = []
    for t in read("ListTasks", ctl.ListTasksRequest(service=name, filters=["desired-state=running"])).tasks:
        if stalled_only and t.status.state != "pending":
            continue
        why = t.status.err or (t.status.message if t.status.state == "pending" else "")
        if why and why not in reasons:
            reasons.append(why)
    return "; ".join(reasons)
