"""The dispatcher (leader only): node sessions, heartbeats, assignments, batched status writes.

A node registers (its identity is its certificate), keeps a session alive with heartbeats
at the period the manager sets, and holds one Assignments stream: the first message is its
full task set, later ones only changes, batched. Status reports from every node are queued
and committed together, one Raft write per batch; a report call returns once its batch is
committed, so a node knows to resend if the leader died first.

A node whose heartbeats stop for 3 periods is marked down (after a leader change every node
gets extra time to find the new leader): the dispatcher only records when it last heard from
each node; manager/liveness.py decides. Beats come over two paths, the Heartbeats stream and
UDP datagrams (manager/heartbeatudp.py, each MAC'd with the session's key from Register); both
are recorded by the one `heard`, so stall discounting and liveness are one mechanism.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svc import defaults, heartbeatwire, tls
from svc.errors import NotFound, Unauthenticated, Unavailable
from svc.rpc import handler
from svc.v1 import common_pb2 as cmn
from svc.v1 import dispatcher_pb2 as dpb
from svc.v1 import dispatcher_pb2_grpc as dpb_grpc

from . import liveness, netpeers, secretapi, views
from .auth import current_peer
from .core import Manager
from .imagepeers import ImagePeers
from .stallclock import StallClock
from .store import ops
from .store.objects import RUNNING, NodeObj, TaskObj, TaskStatusObj, is_terminal
from .store.state import Changes, Snapshot

log = logging.getLogger(__name__)


@dataclass
class Session:
    node_id: str
    session_id: str
    queue: asyncio.Queue[dpb.AssignmentsMessage | None] = field(default_factory=asyncio.Queue)
    sent: dict[str, str] | None = None  # task id -> desired state last sent; None until the full set went out
    streaming: bool = False
    sent_networks: bytes = b""  # the peer sets last sent, serialized (netpeers.peer_sets)
    # The UDP path (manager/heartbeatudp.py): the key only this session's agent holds, the last beat
    # counter taken (a datagram must be above it), and the answer last sent over UDP, serialized.
    key: bytes = field(default_factory=lambda: secrets.token_bytes(heartbeatwire.KEY_BYTES))
    udp_counter: int = 0
    udp_answer: tuple[Any, bytes] = (None, b"")
    reported: tuple[str, float] = ("", 0.0)  # (cert root, when) last written for this node


Facts = tuple[float, list[str], str, str, str]  # what a heartbeat answer tells: period, managers, role, CA


def answer(facts: Facts) -> dpb.HeartbeatResponse:
    return dpb.HeartbeatResponse(
        period_seconds=facts[0], managers=facts[1], role=facts[2], cert_root=facts[3], trust=facts[4]
    )


def assignment_set(tasks: list[TaskObj]) -> dict[str, TaskObj]:
    """What a node must act on: everything but tasks that ended and are not wanted running."""
    return {t.id: t for t in tasks if not (is_terminal(t.state) and t.desired_state != RUNNING)}


def _assignment(t: TaskObj, snap: Snapshot, peers: ImagePeers) -> Any:
    """A task as sent to its node, with its network attachments, the peers to ask first for its image,
    and the values of its secrets and configs (to this node only, over its mTLS session)."""
    msg = views.assignment_view(t, snap.services.get(t.service_id), snap.networks)
    msg.image_peers.extend(peers.for_task(t))
    if (t.spec.secrets or t.spec.configs) and t.desired_state == RUNNING:
        msg.files.extend(secretapi.task_files(t, snap))
    return msg


class Dispatcher(dpb_grpc.DispatcherServicer):
    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self.sessions: dict[str, Session] = {}
        self.last_seen: dict[str, float] = {}
        self._leader_since = 0.0
        self.stall = StallClock(defaults.STALL_TICK_SECONDS, defaults.STALL_SLACK_SECONDS)
        self._stall_at: dict[str, float] = {}  # node id -> stall.total at its last heartbeat
        self._stall_at_election = 0.0
        self._ticker: asyncio.TimerHandle | None = None
        self._dirty: set[str] = set()
        self._networks_dirty = False  # some network's peers changed: every session's peer set is recomputed
        self._flush_scheduled = False
        self._status_batch: dict[str, tuple[str, TaskStatusObj]] = {}
        self._status_waiters: list[asyncio.Future[None]] = []
        self._status_task: asyncio.Task[None] | None = None
        self.log_sink: Any = None  # the LogBroker
        self._ca_cache: tuple[Any, tuple[str, str]] = (None, ("", ""))
        self.udp_port = 0  # the UDP heartbeat port told to nodes at Register; 0: none (manager/heartbeatudp.py)
        self.udp_drain: Callable[[], None] | None = None  # reads the UDP beats waiting, on every tick
        self.beats = {"stream": 0, "udp": 0}  # heartbeats taken, by path (metrics)
        # Datagrams dropped, by reason (metrics; every series from the start): not one of ours, no such live
        # session, a bad MAC, a counter not above the last, a bug, an answer the socket would not take.
        self.datagrams_rejected = dict.fromkeys(("malformed", "session", "mac", "replay", "error", "unanswered"), 0)
        manager.on_change(self._on_change)

    # ----- leadership -----

    def became_leader(self) -> None:
        self._leader_since = time.monotonic()
        self.last_seen.clear()
        self._stall_at.clear()
        self.stall.reset()
        self._stall_at_election = self.stall.total
        if self._ticker is None:
            self._tick()

    def _tick(self) -> None:
        # Scheduled first: a failing drain must not stop the ticker (and with it the stall clock).
        self._ticker = asyncio.get_running_loop().call_later(defaults.STALL_TICK_SECONDS, self._tick)
        self._catch_up()

    def _catch_up(self) -> None:
        """The stall clock up to now, and the UDP beats waiting read (manager/heartbeatudp.py: they
        are read here, not woken for)."""
        self.stall.tick(time.monotonic())
        if self.udp_drain is not None:
            self.udp_drain()

    def lost_leadership(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for session in list(self.sessions.values()):
            session.queue.put_nowait(None)
        self.sessions.clear()

    def period(self) -> float:
        cluster = self.m.cluster
        return cluster.heartbeat_period if cluster else defaults.HEARTBEAT_PERIOD_SECONDS

    def node_transitions(self, nodes: dict[str, NodeObj]) -> list[liveness.NodeState]:
        """(node id, state, why): engine nodes whose heartbeats stopped go DOWN; DOWN nodes that
        heartbeat to this leader come back READY (liveness decides both)."""
        if self._ticker is not None:
            # After a stall of this loop, the round can run before the ticker: count the stall, and
            # read the beats that waited in the socket, before anyone's silence is judged.
            self._catch_up()
        now = time.monotonic()
        # Silence is counted without the time this leader's own loop could not run (stallclock.py).
        stall = self.stall.total
        seen = {n: t + (stall - self._stall_at.get(n, stall)) for n, t in self.last_seen.items()}
        since = self._leader_since + (stall - self._stall_at_election)
        down = liveness.expired_nodes(now, nodes.values(), seen, self.period(), since)
        for node_id, _, _ in down:
            if node_id in self.last_seen:  # it had a session with us, now stale: it must register again
                stale = self.sessions.pop(node_id, None)
                if stale is not None:  # its assignment stream ends: a node still there registers at once
                    stale.queue.put_nowait(None)
        live = {n: t for n, t in seen.items() if n in self.sessions}
        return down + liveness.revived_nodes(now, nodes.values(), live, self.period())

    # ----- sessions -----

    def _session(self, session_id: str) -> Session:
        if not self.m.is_leader:
            raise Unavailable("this manager is not the leader; register again")
        peer = current_peer.get()
        session = self.sessions.get(peer.node_id)
        if session is None or session.session_id != session_id:
            raise NotFound("unknown or expired session; register again")
        return session

    @handler
    async def Register(self, request: dpb.RegisterRequest, context: Any) -> dpb.RegisterResponse:
        peer = current_peer.get()
        if not self.m.is_leader:
            return dpb.RegisterResponse(leader_addr=self.m.leader_api_addr() or "", managers=self.m.manager_api_addrs())
        node = NodeObj(id=peer.node_id, role="", description=request.description, cert_root=request.cert_root)
        try:
            await self.m.write(ops.node_register(node))
        except Exception as exc:
            if "removed" in str(exc):
                raise Unauthenticated(str(exc)) from None
            raise
        old = self.sessions.get(peer.node_id)
        if old is not None:
            old.queue.put_nowait(None)
        session = Session(peer.node_id, uuid.uuid4().hex)
        self.sessions[peer.node_id] = session
        self.last_seen[peer.node_id] = time.monotonic()
        self._stall_at[peer.node_id] = self.stall.total
        log.info("node %s (%s) registered from %s", request.description.hostname, peer.node_id[:12], peer.address)
        return dpb.RegisterResponse(
            node_id=peer.node_id,
            session_id=session.session_id,
            heartbeat_period_seconds=self.period(),
            managers=self.m.manager_api_addrs(),
            heartbeat_key=session.key if self.udp_port else b"",
            heartbeat_udp_port=self.udp_port,
        )

    @handler
    async def Heartbeats(self, request_iterator: Any, context: Any) -> Any:
        session: Session | None = None
        beats = 0
        answered: Facts = (0.0, [], "", "", "")
        async for request in request_iterator:
            if session is None:
                session = self._session(request.session_id)
            elif self.sessions.get(session.node_id) is not session:
                raise NotFound("the session was replaced; register again")
            description = request.description if request.HasField("description") else None
            now = self.heard(session, request.cert_root, description, "stream")
            # Answer every HEARTBEAT_ANSWER_EVERY-th beat, or at once when what we tell the node changed:
            # a node only needs to know the leader is alive, and each message costs the leader CPU.
            beats += 1
            if beats % defaults.HEARTBEAT_ANSWER_EVERY == 1 or now != answered:
                answered = now
                yield answer(now)

    def heard(self, session: Session, cert_root: str, description: Any, path: str) -> Facts:
        """A heartbeat of a live session, from either path: record it, write what changed, and
        return what an answer would tell the node now."""
        self.last_seen[session.node_id] = time.monotonic()
        self._stall_at[session.node_id] = self.stall.total
        self.beats[path] += 1
        if description is not None:
            # In the background: a write can wait on an election, and heartbeats must keep counting.
            node = NodeObj(id=session.node_id, role="", description=description)
            self.m.write_in_background(ops.node_register(node), f"recording node {session.node_id[:12]}")
        record = self.m.state.nodes.get(session.node_id)
        reported = session.reported  # one write per new root, retried after a while
        fresh = reported[0] == cert_root and time.monotonic() - reported[1] < 5.0
        if cert_root and record is not None and cert_root != record.cert_root and not fresh:
            # The node renewed (a CA rotation): the leader's rotation check reads this from the store.
            session.reported = (cert_root, time.monotonic())
            change = ops.node_update(session.node_id, 0, cert_root=cert_root)
            self.m.write_in_background(change, f"recording the certificate root of node {session.node_id[:12]}")
        ca = self.m.ca()
        return (self.period(), self.m.manager_api_addrs(), record.role if record else "", *self._ca_facts(ca))

    def _ca_facts(self, ca: Any) -> tuple[str, str]:
        """(the root that signs now, the roots trusted), computed once per CA."""
        if self._ca_cache[0] is not ca:
            self._ca_cache = (ca, (ca.root_digest, tls.trust_fingerprint(ca.ca_pem)))
        return self._ca_cache[1]

    @handler
    async def Assignments(self, request: dpb.AssignmentsRequest, context: Any) -> Any:
        session = self._session(request.session_id)
        if session.streaming:
            raise Unavailable("this session already has an assignment stream")
        session.streaming = True
        current = assignment_set(self.m.state.node_tasks(session.node_id))
        snap = self.m.snapshot()
        peers = ImagePeers(snap)
        session.sent = {tid: t.desired_state for tid, t in current.items()}
        nets = netpeers.peer_sets(snap, {session.node_id})[session.node_id]
        session.sent_networks = _serialized(nets)
        yield dpb.AssignmentsMessage(
            full=True,
            update=[_assignment(t, snap, peers) for t in current.values()],
            networks=nets,
            networks_set=True,
        )
        while True:
            msg = await session.queue.get()
            if msg is None:
                return
            yield msg

    @handler
    async def UpdateTaskStatus(self, request: dpb.UpdateTaskStatusRequest, context: Any) -> cmn.Empty:
        session = self._session(request.session_id)
        for u in request.updates:
            s = u.status
            self._status_batch[u.task_id] = (
                session.node_id,
                TaskStatusObj(
                    state=s.state,
                    timestamp=s.timestamp,
                    message=s.message,
                    err=s.err,
                    exit_code=s.exit_code,
                    container_id=s.container_id,
                    health=s.health,
                ),
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._status_waiters.append(waiter)
        if self._status_task is None or self._status_task.done():
            self._status_task = asyncio.create_task(self._flush_status())
        await waiter
        return cmn.Empty()

    def send_log_subscription(self, node_id: str, sub: dpb.LogSubscription) -> bool:
        session = self.sessions.get(node_id)
        if session is None:
            return False
        session.queue.put_nowait(dpb.AssignmentsMessage(log_subscriptions=[sub]))
        return True

    @handler
    async def PublishLogs(self, request_iterator: Any, context: Any) -> cmn.Empty:
        node_id = current_peer.get().node_id
        sub_id = ""
        try:
            async for msg in request_iterator:
                if not sub_id:
                    self._session(msg.session_id)
                    sub_id = msg.subscription_id
                    if self.log_sink is None or not self.log_sink.node_started(sub_id, node_id):
                        return cmn.Empty()  # the subscriber went away
                if msg.task_id and not self.log_sink.publish(sub_id, node_id, msg):
                    return cmn.Empty()
        finally:
            if sub_id and self.log_sink is not None:
                self.log_sink.node_done(sub_id, node_id)
        return cmn.Empty()

    async def _flush_status(self) -> None:
        while self._status_batch:
            await asyncio.sleep(defaults.STATUS_BATCH_SECONDS)
            batch, self._status_batch = self._status_batch, {}
            waiters, self._status_waiters = self._status_waiters, []
            updates = [(tid, nid, st) for tid, (nid, st) in batch.items()]
            try:
                for i in range(0, len(updates), defaults.STATUS_BATCH_MAX):
                    await self.m.write(ops.tasks_status(updates[i : i + defaults.STATUS_BATCH_MAX]))
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(Unavailable(f"status not recorded: {exc}"))
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # ----- assignments follow the store -----

    def _on_change(self, op: str, changes: Changes) -> None:
        if not self.sessions:
            return
        if op == "node.remove":
            # Streams are authorized when they open: end a removed node's session now, so its next
            # call meets the authorizer (which refuses its certificate from now on).
            nodes = self.m.state.nodes
            for node_id in [n for n in changes.nodes if n in self.sessions and n not in nodes]:
                self.sessions.pop(node_id).queue.put_nowait(None)
                log.info("node %s was removed: its session is closed", node_id[:12])
        self._dirty |= changes.task_nodes & set(self.sessions)
        # Nodes too: the ingress network's set holds every node's sandbox (netpeers).
        self._networks_dirty |= bool(changes.networks or changes.nodes)
        if (self._dirty or self._networks_dirty) and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(defaults.ASSIGNMENT_BATCH_SECONDS, self._flush_assignments)

    def _flush_assignments(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        snap: Snapshot | None = None
        peers: ImagePeers | None = None
        nets: dict[str, list[dpb.NetworkPeers]] = {}
        if self._networks_dirty:  # one pass over the store for every session's networks
            self._networks_dirty = False
            snap = self.m.snapshot()
            live = {n for n, s in self.sessions.items() if s.sent is not None}
            nets = netpeers.peer_sets(snap, live)
            dirty |= {n for n in live if _serialized(nets[n]) != self.sessions[n].sent_networks}
        for node_id in dirty:
            session = self.sessions.get(node_id)
            if session is None or session.sent is None:
                continue
            current = assignment_set(self.m.state.node_tasks(node_id))
            changed = [t for tid, t in current.items() if session.sent.get(tid) != t.desired_state]
            removed = [tid for tid in session.sent if tid not in current]
            node_nets = nets.get(node_id)
            new_nets = _serialized(node_nets) if node_nets is not None else session.sent_networks
            if not changed and not removed and new_nets == session.sent_networks:
                continue
            if snap is None or peers is None:
                snap = snap or self.m.snapshot()
                peers = ImagePeers(snap)
            log.debug("assignments to %s: %d changed, %d removed", node_id[:12], len(changed), len(removed))
            for t in changed:
                session.sent[t.id] = t.desired_state
            for tid in removed:
                del session.sent[tid]
            msg = dpb.AssignmentsMessage(update=[_assignment(t, snap, peers) for t in changed], remove=removed)
            if new_nets != session.sent_networks:
                msg.networks.extend(node_nets or [])
                msg.networks_set = True
                session.sent_networks = new_nets
            session.queue.put_nowait(msg)


def _serialized(nets: list[dpb.NetworkPeers]) -> bytes:
    return b"".join(n.SerializeToString(deterministic=True) for n in nets)
