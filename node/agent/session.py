"""The agent's session with the leader: register, heartbeat, receive assignments, send reports.

The node registers with any manager it knows; a follower answers with the leader's address
and the node goes there. Heartbeats keep the session; if one fails, or the assignment
stream ends, the node registers again, trying the next manager on the list it was given.

Heartbeats go as UDP datagrams when the leader gave the session a key and a port
(node/agent/heartbeatudp.py), over the gRPC Heartbeats stream otherwise. The stream stays open
either way: it carries what the leader needs only on change (a new node description), and a
stream beat every period while the UDP path is unproven. The session starts probing (both
paths); the first authentic UDP answer makes it UDP only, and no UDP answer within
HEARTBEAT_UDP_PROBE_PERIODS periods (UDP filtered, an older manager) makes it stream only for the
rest of the session. Whichever path answers, the rule for a dead leader is one: no answer for
HEARTBEAT_ANSWER_EVERY periods and a margin ends the session.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import grpc

from svc import defaults, tls
from svc.errors import Unavailable
from svc.netaddr import split_addr
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import dispatcher_pb2 as dpb
from svc.v1 import dispatcher_pb2_grpc as dpb_grpc

from .heartbeatudp import HeartbeatSender, open_sender
from .logs import LogPublisher
from .worker import Worker

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        worker: Worker,
        identity: Callable[[], tls.Identity],
        managers: list[str],
        describe: Callable[[], cpb.NodeDescription],
        on_managers: Callable[[list[str]], None],
    ) -> None:
        self.worker = worker
        self.identity = identity
        self.managers = list(managers)
        self.describe = describe
        self.on_managers = on_managers
        self.connected_to = ""
        self.session_id = ""
        self.heartbeat_rtt = 0.0
        self.heartbeat_path = ""  # "probe", "udp" or "stream": how this session's beats go
        self.registrations = 0
        self._send = asyncio.Event()
        self._restart = asyncio.Event()
        self._last_description: bytes = b""
        self.logs = LogPublisher(worker.engine)
        self.on_role: Callable[[str], None] | None = None  # the node's role in the store, as the leader says
        # (the root that signs now, the roots trusted), as the leader says: a CA rotation started or finished
        self.on_ca: Callable[[str, str], None] | None = None
        self.cert_root: Callable[[], str] = lambda: ""  # what this node's certificate chains to (reported)

    def wake_sender(self) -> None:
        self._send.set()

    def reconnect(self) -> None:
        """Drop the session (e.g. after a certificate renewal); a new one starts at once."""
        self._restart.set()

    async def run(self) -> None:
        index, delay, hint = 0, defaults.SESSION_RETRY_MIN_SECONDS, ""
        warned = False
        while True:
            if self.identity().expires_at < time.time():
                if not warned:  # no manager will accept it: say what to do, once
                    log.error(
                        "this node's certificate expired at %s; it must join again: `svc node rm` it, "
                        "then `svcd node --join ADDR --token TOKEN` with a fresh data dir",
                        time.ctime(self.identity().expires_at),
                    )
                    warned = True
                await asyncio.sleep(10)
                continue
            addr = hint or self.managers[index % len(self.managers)]
            hint = ""
            channel = tls.secure_channel(addr, self.identity())
            try:
                hint = await self._session(addr, channel)
                delay = defaults.SESSION_RETRY_MIN_SECONDS
            except (grpc.aio.AioRpcError, Unavailable, TimeoutError, OSError) as exc:
                log.info("session with %s ended: %s", addr, _short(exc))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session with %s failed", addr)
            finally:
                self.session_id, self.connected_to = "", ""
                await channel.close()
            if not hint:
                index += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, defaults.SESSION_RETRY_MAX_SECONDS)

    async def _session(self, addr: str, channel: Any) -> str:
        """One session; returns a leader address to try next, or raises when the session ends."""
        stub = dpb_grpc.DispatcherStub(channel)
        description = self.describe()
        await _connected(channel, defaults.SESSION_CONNECT_TIMEOUT_SECONDS)
        resp = await stub.Register(
            dpb.RegisterRequest(description=description, cert_root=self.cert_root()),
            timeout=defaults.SESSION_REGISTER_TIMEOUT_SECONDS,
        )
        if resp.managers:
            self.managers = list(resp.managers)
            self.on_managers(self.managers)
        if not resp.session_id:
            if resp.leader_addr and resp.leader_addr != addr:
                return resp.leader_addr
            raise Unavailable("no leader yet")
        self._last_description = description.SerializeToString(deterministic=True)
        self.session_id, self.connected_to = resp.session_id, addr
        self.registrations += 1
        log.info("registered with %s (session %s)", addr, resp.session_id[:8])
        self._restart.clear()
        self.worker.resend_all()
        period = resp.heartbeat_period_seconds or defaults.HEARTBEAT_PERIOD_SECONDS
        loops = [
            asyncio.create_task(self._heartbeats(stub, resp, addr, period)),
            asyncio.create_task(self._assignments(stub, resp.session_id)),
            asyncio.create_task(self._reports(stub, resp.session_id)),
            asyncio.create_task(self._restart.wait()),
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            errors = [t.exception() for t in done if t.exception() is not None]
            if errors:
                raise errors[0]  # type: ignore[misc]  # (a dead leader fails several loops at once)
            raise Unavailable("session restarted")
        finally:
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)  # collect them all: none goes unretrieved

    async def _heartbeats(self, stub: Any, resp: dpb.RegisterResponse, addr: str, period: float) -> None:
        """One beat per period, on UDP or the long-lived stream; no answer in time ends the session."""
        loop = asyncio.get_running_loop()
        session_id = resp.session_id
        state = {"period": period, "heard": loop.time(), "sent": 0.0}

        def answered(msg: dpb.HeartbeatResponse) -> None:
            now = loop.time()
            if state["sent"]:
                self.heartbeat_rtt = now - state["sent"]
                state["sent"] = 0.0
            state["heard"] = now
            state["period"] = msg.period_seconds or state["period"]
            if msg.role and self.on_role is not None:
                self.on_role(msg.role)
            if msg.cert_root and self.on_ca is not None:
                self.on_ca(msg.cert_root, msg.trust)
            if msg.managers and list(msg.managers) != self.managers:
                self.managers = list(msg.managers)
                self.on_managers(self.managers)

        udp: HeartbeatSender | None = None
        if resp.heartbeat_key and resp.heartbeat_udp_port:
            host = split_addr(addr)[0]
            udp = await open_sender(
                host, resp.heartbeat_udp_port, resp.heartbeat_key, resp.node_id, session_id, answered
            )
        self.heartbeat_path = "probe" if udp is not None else "stream"
        probe_until = loop.time() + defaults.HEARTBEAT_UDP_PROBE_PERIODS * period
        outbox: asyncio.Queue[dpb.HeartbeatRequest] = asyncio.Queue()

        async def requests() -> Any:
            while True:
                yield await outbox.get()

        async def beats() -> None:
            while True:
                await asyncio.sleep(state["period"] * random.uniform(0.9, 1.0))
                root = self.cert_root()
                req = dpb.HeartbeatRequest(session_id=session_id, cert_root=root)
                description = self.describe()
                raw = description.SerializeToString(deterministic=True)
                if raw != self._last_description:
                    req.description.CopyFrom(description)
                    self._last_description = raw
                if udp is not None and self.heartbeat_path == "probe":
                    if udp.answered:
                        self.heartbeat_path = "udp"
                        log.info("heartbeats to %s go as UDP datagrams", addr)
                    elif loop.time() > probe_until:
                        self.heartbeat_path = "stream"
                        udp.close()
                        log.warning(
                            "no UDP heartbeat answer from %s:%d: heartbeats go on the gRPC stream",
                            split_addr(addr)[0],
                            resp.heartbeat_udp_port,
                        )
                # A datagram has no retransmit: when the last beat went unanswered (it, or its answer, was
                # lost, or junk crowds the leader's socket), this one goes on the stream too, so that a
                # lost datagram or two never reads as the node's silence (the leader marks it down after
                # 3 periods, before this side's own watchdog would give up on UDP).
                backup = udp is not None and self.heartbeat_path == "udp" and udp.answered < udp.counter
                state["sent"] = loop.time()
                if udp is not None and self.heartbeat_path != "stream":
                    udp.send(root)
                if self.heartbeat_path != "udp" or backup or req.HasField("description"):
                    outbox.put_nowait(req)

        async def reader(call: Any) -> None:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    raise Unavailable("the heartbeat stream ended")
                answered(msg)

        async def watchdog() -> None:
            # The leader answers at least every HEARTBEAT_ANSWER_EVERY-th beat: silence for that many
            # periods and a margin means it is gone.
            while True:
                silence = defaults.HEARTBEAT_ANSWER_EVERY * state["period"] + max(1.0, state["period"])
                left = state["heard"] + silence - loop.time()
                if left <= 0:
                    raise Unavailable(f"no heartbeat answer for {silence:.0f}s")
                await asyncio.sleep(left)

        call = stub.Heartbeats(requests())
        loops = [asyncio.create_task(f) for f in (beats(), reader(call), watchdog())]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # raises what ended it
        finally:
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            call.cancel()
            if udp is not None:
                udp.close()

    async def _assignments(self, stub: Any, session_id: str) -> None:
        try:
            async for msg in stub.Assignments(dpb.AssignmentsRequest(session_id=session_id)):
                if msg.full or msg.update or msg.remove:
                    self.worker.set_assignments(msg.full, list(msg.update), list(msg.remove))
                    # what this node's tasks need stays out of image GC's reach
                    self.worker.engine.pin_images({t.spec.image for t in self.worker.assigned.values()} - {""})
                if msg.networks_set or msg.networks:
                    self.worker.set_networks(list(msg.networks))
                for sub in msg.log_subscriptions:
                    self.logs.handle(stub, session_id, sub)
        finally:
            self.logs.cancel_all()
        raise Unavailable("the assignment stream ended")

    async def _reports(self, stub: Any, session_id: str) -> None:
        while True:
            await self._send.wait()
            self._send.clear()
            batch = dict(self.worker.outbox)
            if not batch:
                continue
            updates = [dpb.TaskStatusUpdate(task_id=tid, status=st) for tid, st in batch.items()]
            await stub.UpdateTaskStatus(
                dpb.UpdateTaskStatusRequest(session_id=session_id, updates=updates),
                timeout=defaults.SESSION_RPC_TIMEOUT_SECONDS,
            )
            self.worker.acknowledged(batch)


async def _connected(channel: Any, timeout: float) -> None:
    """Wait until the channel is up: fail at once if the connection failed (refused), and after
    `timeout` if it hangs (a host cut off the network answers nothing: no reset, no refusal)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            raise Unavailable("cannot connect")
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise Unavailable(f"no connection within {timeout:.0f}s")
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
        except TimeoutError:
            raise Unavailable(f"no connection within {timeout:.0f}s") from None
        state = channel.get_state()


def _short(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
