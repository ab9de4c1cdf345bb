"""The leader's loop: feed the pure decisions, commit what they decide.

Each round marks the nodes whose heartbeats stopped (liveness.py decides which), then reads
one snapshot, lets roundplan.plan_round (the orchestrator and the scheduler, merged) say
which task writes to make, and commits them as few Raft writes as possible. This module
decides nothing itself. A round runs when the store changes, when a timer the orchestrator
asked for (restart delays) is due, and at least every LEADER_TICK_SECONDS (heartbeat
expiry). Rounds that decide nothing write nothing, so the loop settles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from svc import defaults
from svc.errors import SvcError

from . import roundplan
from .core import Manager
from .dispatcher import Dispatcher
from .store import ops

log = logging.getLogger(__name__)


class LeaderLoop:
    def __init__(self, manager: Manager, dispatcher: Dispatcher) -> None:
        self.m = manager
        self.dispatcher = dispatcher
        self._wake = asyncio.Event()
        self._dirty = True  # the store changed since the last full round
        self._due = 0.0  # a timer the orchestrator asked for
        self._status_wake: asyncio.TimerHandle | None = None
        self._stopped = False
        self.rounds = 0
        self.placements = 0
        # What makes a wave slower than its work: rounds whose writes failed and were decided again,
        # task writes the store skipped as stale (a CAS conflict), and nodes marked down meanwhile.
        self.round_errors = 0
        self.write_conflicts = 0
        self.nodes_marked_down = 0
        manager.on_change(self._changed)

    def _changed(self, op: str, changes: object) -> None:
        self._dirty = True
        if op == "tasks.status":
            # Nodes report in waves (thousands of tasks reaching "running"); a full round per
            # batch would cost O(tasks) each time. Let a wave settle; failures still act within it.
            if self._status_wake is None:
                self._status_wake = asyncio.get_running_loop().call_later(
                    defaults.LEADER_STATUS_SETTLE_SECONDS, self._wake_now
                )
            return
        self._wake.set()

    def _wake_now(self) -> None:
        self._status_wake = None
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        leading = False
        while not self._stopped:
            if self.m.is_leader != leading:
                leading = self.m.is_leader
                if leading:
                    log.info("this manager is the leader (term %d)", self.m.raft.term)
                    self.dispatcher.became_leader()
                    self._dirty = True
                else:
                    log.info("this manager is no longer the leader")
                    self.dispatcher.lost_leadership()
            timeout = defaults.LEADER_TICK_SECONDS
            if leading:
                try:
                    wake_at = await self.round()
                    if wake_at is not None:
                        timeout = max(0.0, min(timeout, wake_at - time.time()))
                except SvcError as exc:
                    self.round_errors += 1
                    log.info("leader round: %s", exc)
                    # Its decisions were not written: decide again.
                    self._dirty, timeout = True, defaults.LEADER_RETRY_SECONDS
                except Exception:
                    log.exception("leader round failed")
                    self._dirty, timeout = True, defaults.LEADER_ERROR_RETRY_SECONDS
            else:
                timeout = defaults.LEADER_POLL_SECONDS
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                await asyncio.sleep(defaults.LEADER_SETTLE_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def round(self) -> float | None:
        """One reconcile pass; returns when the next timer is due (or None)."""
        if self.m.cluster is None:
            return None
        # The term first, then leadership: a decision carries the term it was made in, and the store
        # refuses it in any other (store/state.fence), so a deposed leader's decisions never land.
        term = self.m.raft.term
        if not self.m.is_leader:
            return None
        nodes = {n.id: n for n in self.m.state.node_list()}
        transitions = self.dispatcher.node_transitions(nodes)
        if transitions:
            self.nodes_marked_down += sum(1 for _, state, _ in transitions if state == "down")
            for node_id, state, why in transitions:
                log.warning("node %s is %s%s", nodes[node_id].hostname, state, f": {why}" if why else " again")
            await self.m.write(ops.node_states(transitions, term))
            return 0.0
        now = time.time()
        if not self._dirty and now < self._due:
            return self._due  # nothing changed and no timer is due: heartbeat checks only
        self._dirty = False
        self.rounds += 1
        # Pure work on an immutable snapshot, in a thread: planning 10,000 tasks takes the loop
        # a second or more, and a loop that cannot run cannot hear heartbeats (stallclock.py).
        plan = await asyncio.to_thread(roundplan.plan_round, self.m.snapshot(), now)
        self.placements += plan.placements
        self._due = plan.wake_at if plan.wake_at is not None else float("inf")
        if plan.empty():
            return plan.wake_at
        for create, update, delete in plan.batches(defaults.SCHEDULER_BATCH):
            if create or update or delete:
                skipped = await self.m.write(ops.tasks_write(create=create, update=update, delete=delete, term=term))
                self.write_conflicts += len(skipped or ())
        for service_id, version, status, rollback in plan.rollouts:
            log.info("service %s: %s (%s)", service_id, status.state, status.message)
            await self.m.write(ops.service_rollout(service_id, version, status, rollback, term))
        return 0.0 if plan.wake_at is None else plan.wake_at

    def stats(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "placements": self.placements,
            "round_errors": self.round_errors,
            "write_conflicts": self.write_conflicts,
            "nodes_marked_down": self.nodes_marked_down,
        }
