"""The agent's worker: runs the pure reconcile against the engine and carries out its actions.

It holds the node's assignment set (from the session), the statuses waiting to be sent,
and the little the engine does not remember (why a task was stopped, why it never started).
Actions run in threads (the engine blocks); each marks its task busy until done, then
pokes the loop so the next reconcile sees the result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from svc import defaults, registryref
from svc.errors import SvcError
from svc.taskstate import moves_forward
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb

from . import reconcile
from .engineapi import EngineAPI
from .reconcile import Observed, Remove, Start, Stop

log = logging.getLogger(__name__)

NEVER_STARTED = {"assigned", "accepted", "preparing", "ready"}


class Worker:
    def __init__(self, engine: EngineAPI, node_id: str, on_status: Callable[[], None]) -> None:
        self.engine = engine
        self.node_id = node_id
        self.on_status = on_status  # called when there are statuses to send
        self.peer_tls: Callable[[], Any] = lambda: None  # the client TLS context for image peers (the agent's)
        self.assigned: dict[str, cpb.Task] = {}
        # Until the manager's first full set arrives, every local container looks unassigned:
        # acting then would remove a restarted node's healthy containers. Wait for it.
        self.synced = False
        self.outbox: dict[str, cpb.TaskStatus] = {}
        self.reported: dict[str, cpb.TaskStatus] = {}
        self._busy: set[str] = set()
        self._ended: dict[str, Observed] = {}
        self._stopping: dict[str, tuple[str, float]] = {}  # task id -> (why, when the stop was requested)
        self._seen: set[str] = set()
        self._poke = asyncio.Event()
        self._networks: list[dpb.NetworkPeers] | None = None  # a peer set not yet handed to the engine
        self._networks_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        loop = asyncio.get_running_loop()

        def on_event(event: Any) -> None:  # on an engine thread: only hand over
            loop.call_soon_threadsafe(self._poke.set)

        engine.subscribe(on_event)

    def poke(self) -> None:
        self._poke.set()

    # ----- assignments -----

    def set_assignments(self, full: bool, update: list[cpb.Task], remove: list[str]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            shown = ", ".join(f"{t.id[:12]}={t.desired_state}" for t in update[:20])
            log.debug("assignments (full=%s): %s; removed %d", full, shown or "-", len(remove))
        if full:
            self.assigned = {}
            self.synced = True
        for t in update:
            self.assigned[t.id] = t
        for tid in remove:
            self.assigned.pop(tid, None)
        # Before any start: a peer that names this node for the image may ask before the pull begins.
        self.engine.announce_pulls(pulls_to_come(update))
        self.poke()

    def set_networks(self, networks: list[dpb.NetworkPeers]) -> None:
        """The managers' peer sets, handed to the engine off the loop; the newest set wins, and a set
        that failed to apply is tried again until a newer one arrives."""
        self._networks = networks
        if self._networks_task is None or self._networks_task.done():
            self._networks_task = asyncio.create_task(self._apply_networks())

    async def _apply_networks(self) -> None:
        while self._networks is not None:
            networks, self._networks = self._networks, None
            try:
                await asyncio.to_thread(self.engine.set_networks, networks)
                continue
            except SvcError as exc:
                log.warning("overlay networks: %s", exc)
            except Exception:
                log.exception("overlay networks")
            await asyncio.sleep(defaults.WORKER_ERROR_RETRY_SECONDS * 4)
            if self._networks is None:
                self._networks = networks

    def resend_all(self) -> None:
        """After a new session: report everything again (a dead leader may have lost the last batch)."""
        for tid, st in self.reported.items():
            if tid in self.assigned:
                self.outbox.setdefault(tid, st)
        if self.outbox:
            self.on_status()

    def acknowledged(self, sent: dict[str, cpb.TaskStatus]) -> None:
        for tid, st in sent.items():
            self.reported[tid] = st
            if self.outbox.get(tid) is st:
                del self.outbox[tid]

    # ----- the loop -----

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._poke.wait(), defaults.WORKER_SAFETY_NET_SECONDS)
            except TimeoutError:
                pass
            self._poke.clear()
            await asyncio.sleep(defaults.WORKER_SETTLE_SECONDS)
            try:
                await self.reconcile_once()
            except Exception:
                log.exception("reconcile failed")
                await asyncio.sleep(defaults.WORKER_ERROR_RETRY_SECONDS)

    async def reconcile_once(self) -> None:
        if not self.synced:
            return
        containers = await asyncio.to_thread(self.engine.containers, True)
        present = {c.spec.labels.get(reconcile.TASK_LABEL, "") for c in containers}
        for tid in list(self._seen):
            if tid not in present and tid not in self._busy and tid in self.assigned and tid not in self._ended:
                self._ended[tid] = Observed("failed", "container removed", "task: the container was removed")
        self._seen |= present - {""}
        for tid, task in self.assigned.items():
            if (
                tid not in present
                and tid not in self._busy
                and tid not in self._ended
                and task.status.state not in NEVER_STARTED
                and task.status.state not in reconcile.TERMINAL
                and task.desired_state == "running"
            ):
                # The manager saw it start, but no container is here (lost with a wiped node): it failed.
                self._ended[tid] = Observed("failed", "container missing", "task: the container is gone from the node")
        now = time.time()
        # A stop that has not taken effect long after its grace period (lost with a daemon restart,
        # or refused) is asked for again.
        stopping = {tid: why for tid, (why, at) in self._stopping.items() if now - at < defaults.STOP_RETRY_SECONDS}
        actions, statuses = reconcile.plan(self.assigned, containers, self._busy, self._ended, stopping)
        for tid, st in statuses.items():
            last = self.outbox.get(tid) or self.reported.get(tid)
            if moves_forward(last, st):
                st.timestamp = now
                self.outbox[tid] = st
        for action in actions:
            self._launch(action)
        for table in (self._ended, self._stopping, self.reported):
            for tid in [t for t in table if t not in self.assigned]:
                del table[tid]
        self._seen &= set(self.assigned)
        if self.outbox:
            self.on_status()

    def _launch(self, action: Any) -> None:
        key = action.task.id if isinstance(action, Start) else getattr(action, "task_id", action.container_id)
        self._busy.add(key)
        log.debug("%s %s", type(action).__name__.lower(), key[:12])
        task = asyncio.create_task(self._act(action, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, action: Any, key: str) -> None:
        try:
            if isinstance(action, Start):
                await self._start(action.task)
            elif isinstance(action, Stop):
                if action.reason == "unhealthy":
                    # Fail the task now (Swarm does): its replacement need not wait for the stop grace period.
                    self._report(
                        action.task_id,
                        cpb.TaskStatus(
                            state="failed",
                            message="unhealthy container",
                            err="task: container is unhealthy",
                            container_id=action.container_id,
                            health="unhealthy",
                        ),
                    )
                # Signal only: the grace period runs in the engine, the exit comes back as an event.
                await asyncio.to_thread(self.engine.stop, action.container_id, None, False)
                self._stopping[action.task_id] = (action.reason, time.time())
            elif isinstance(action, Remove):
                await asyncio.to_thread(self.engine.remove, action.container_id, True)
        except SvcError as exc:
            log.warning("%s failed: %s", type(action).__name__.lower(), exc)
        except Exception:
            log.exception("%s failed", type(action).__name__.lower())
        finally:
            self._busy.discard(key)
            self.poke()

    async def _start(self, task: cpb.Task) -> None:
        self._report(task.id, cpb.TaskStatus(state="preparing", message="preparing"))
        spec = pb.ContainerSpec()
        spec.CopyFrom(task.spec)
        spec.labels[reconcile.TASK_LABEL] = task.id
        spec.labels[reconcile.SERVICE_LABEL] = task.service_name
        spec.labels[reconcile.SERVICE_ID_LABEL] = task.service_id
        spec.labels[reconcile.SLOT_LABEL] = str(task.slot)
        spec.labels[reconcile.NODE_LABEL] = self.node_id
        spec.attachments.extend(task.networks)  # the overlay networks the managers placed it on
        name = f"{task.service_name}.{task.slot or self.node_id[:8]}.{task.id}"
        try:
            # Preparing: the image comes first (pulled by the digest the service pins, if missing).
            peers = list(task.image_peers)
            tls = self.peer_tls() if peers else None
            await asyncio.to_thread(self.engine.ensure_image, spec.image, registry_creds(task), peers, tls)
            values = {f.id: f.data for f in task.files}  # its secrets and configs, in memory only
            if values:
                await asyncio.to_thread(self.engine.run_with_files, spec, name, values)
            else:
                await asyncio.to_thread(self.engine.run, spec, name)
        except SvcError as exc:
            # Before the container ran: the task is rejected (Swarm's rule), with the engine's own reason.
            self._ended[task.id] = Observed("rejected", "failed to start", f"task: {exc}")
            log.warning("task %s rejected: %s", task.id[:12], exc)

    def _report(self, tid: str, st: cpb.TaskStatus) -> None:
        last = self.outbox.get(tid) or self.reported.get(tid)
        if moves_forward(last, st):
            st.timestamp = time.time()
            self.outbox[tid] = st
            self.on_status()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._networks_task is not None:
            self._networks_task.cancel()


def registry_creds(task: cpb.Task) -> tuple[str, str] | None:
    """The service's registry credentials (`--with-registry-auth`), for its image's registry only.

    They live in memory for the pull: the container's spec on disk never holds them.
    """
    auth = task.registry_auth
    if not task.HasField("registry_auth") or not auth.username:
        return None
    try:
        if registryref.parse(task.spec.image).registry != registryref.login_host(auth.server):
            return None
    except SvcError:
        return None
    return auth.username, auth.password


def pulls_to_come(tasks: list[cpb.Task]) -> set[str]:
    """The pinned images of `tasks` (an assignment message's) that this node will start and so may pull:
    desired running, not yet begun here (assigned or accepted). Pure."""
    return {
        t.spec.image
        for t in tasks
        if t.desired_state == "running" and t.status.state in ("assigned", "accepted") and "@" in t.spec.image
    }
