"""The leader's UDP heartbeat endpoint: beats as datagrams, recorded as the stream's are.

Why: 200 idle nodes beating every second on gRPC streams cost the leader 7-11 % of a core, almost all
of it gRPC's per-message machinery (docs/benchmarks.md). A datagram is one recvfrom, one HMAC and one
sendto - but only if the leader does not wake up for each: a bare asyncio endpoint woken per datagram
costs as much as the stream did (0.2 ms a datagram, nearly all of it the wake-up), while the same
socket read on a 10 Hz timer costs 0.04 ms a datagram (bench/grpc_stream_bench.py --udp [--drain]).
So the socket is never in the event loop's selector: the dispatcher's stall ticker, which runs every
STALL_TICK_SECONDS on the leader anyway, drains it. A beat waits at most one tick (100 ms) to be
recorded, which only ever makes a node look heard later, never earlier; a follower never drains.

The rule: a datagram is taken only if it names a live session of this leader, carries that
session's MAC (svc/heartbeatwire.py; the key went to the node over its mTLS Register) and a counter
above the last one taken. It is then recorded by `Dispatcher.heard`, exactly as a stream beat is
(so stall discounting and liveness stay one mechanism), and answered with the answer's facts,
MAC'd with the same key and echoing the beat's counter. Every beat is answered, unlike the
stream's every third: a datagram can be lost, and a node that waits HEARTBEAT_ANSWER_EVERY periods
and a margin for an answer must not end a healthy session over one lost answer; an answer is one
sendto on a warm loop. Anything else - not ours, unknown or stale session, bad MAC, replayed - is
dropped silently and counted by reason (`svc_heartbeat_datagrams_rejected_total`); nothing is
answered unauthenticated.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from svc import defaults, heartbeatwire
from svc.netaddr import split_addr

from .dispatcher import Dispatcher, answer

log = logging.getLogger(__name__)


class HeartbeatEndpoint:
    """The leader's UDP socket, read on the dispatcher's tick (see the module's docstring)."""

    def __init__(self, dispatcher: Dispatcher, sock: socket.socket | None = None) -> None:
        self.d = dispatcher
        self.sock = sock

    def drain(self) -> None:
        """Take every datagram waiting (at most a bounded number: the loop must not stall on a flood)."""
        if self.sock is None:
            return
        until = time.monotonic() + defaults.HEARTBEAT_UDP_DRAIN_SECONDS  # a flood costs the loop this much
        for _ in range(defaults.HEARTBEAT_UDP_DRAIN_MAX):
            if time.monotonic() > until:
                return
            try:
                data, addr = self.sock.recvfrom(defaults.HEARTBEAT_DATAGRAM_MAX_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # (an ICMP error for an earlier answer)
                log.debug("heartbeat endpoint: %s", exc)
                continue
            self.receive(data, addr)

    def receive(self, data: bytes, addr: Any) -> None:
        try:
            reply = self.take(data)
        except Exception:  # a bug must cost one beat, not the endpoint
            log.exception("heartbeat datagram from %s", addr)
            self._reject("error")
            return
        if reply is not None and self.sock is not None:
            try:
                self.sock.sendto(reply, addr)
            except OSError:  # a full send buffer or an unroutable node: the node's next beat is answered
                self._reject("unanswered")

    def close(self) -> None:
        self.d.udp_drain = None
        if self.sock is not None:
            self.sock.close()

    def take(self, data: bytes) -> bytes | None:
        """The answer to one datagram, or None (dropped, counted)."""
        frame = heartbeatwire.parse(data)
        if frame is None or frame.kind != heartbeatwire.BEAT:
            return self._reject("malformed")
        session = self.d.sessions.get(frame.node_id)
        if session is None or session.session_id != frame.session_id or not self.d.m.is_leader:
            return self._reject("session")
        if not heartbeatwire.authentic(session.key, frame):
            return self._reject("mac")
        if not heartbeatwire.fresh(frame.counter, session.udp_counter):
            return self._reject("replay")
        session.udp_counter = frame.counter
        try:
            cert_root = frame.payload.decode()
        except UnicodeDecodeError:
            return self._reject("malformed")
        facts = self.d.heard(session, cert_root, None, "udp")
        if session.udp_answer[0] != facts:  # serialized once per change, not per beat
            session.udp_answer = (facts, answer(facts).SerializeToString())
        return heartbeatwire.seal(
            session.key, heartbeatwire.ANSWER, frame.node_id, frame.session_id, frame.counter, session.udp_answer[1]
        )

    def _reject(self, reason: str) -> bytes | None:
        """Count a dropped datagram; nothing is answered to it."""
        self.d.datagrams_rejected[reason] += 1
        return None


def udp_port(listen_addr: str, configured: int) -> int:
    """The UDP port to bind: the configured one, or the gRPC port's number (0); -1: none."""
    if configured < 0:
        return 0
    return configured or split_addr(listen_addr, "listen address")[1]


async def open_endpoint(dispatcher: Dispatcher, listen_addr: str, configured: int) -> HeartbeatEndpoint | None:
    """Bind the endpoint on the gRPC listen host and hand it to the dispatcher's tick; None when it is
    off or cannot bind (nodes then beat on the stream, as against an older manager)."""
    port = udp_port(listen_addr, configured)
    if not port:
        return None
    host = split_addr(listen_addr, "listen address")[0]
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Room for a stall's worth of beats (the kernel caps it at net.core.rmem_max).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, defaults.HEARTBEAT_UDP_RCVBUF_BYTES)
        sock.bind((host, port))
        sock.setblocking(False)
    except (OSError, OverflowError) as exc:  # (OverflowError: a port out of range)
        sock.close()
        log.warning("no UDP heartbeats on %s:%d (%s): nodes heartbeat on their gRPC streams", host, port, exc)
        return None
    endpoint = HeartbeatEndpoint(dispatcher, sock)
    dispatcher.udp_port = port
    dispatcher.udp_drain = endpoint.drain
    log.info("UDP heartbeats on %s:%d", host, port)
    return endpoint
