"""The agent's side of UDP heartbeats: send each beat as a MAC'd datagram, take the leader's answers.

Why and the wire format: svc/heartbeatwire.py. The rule here: an answer counts only if it carries
this session's MAC and answers a beat this socket sent, later than the last answer taken (so a
replayed or reordered one is dropped); anything else is dropped silently. The socket is not
connected, so an answer sourced from another of the leader's addresses (a multi-homed host
answering from its wildcard socket) still arrives: the MAC, not the address, says who sent it.
Which path the session beats on (UDP, or the stream when no answer comes) is node/agent/session.py's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from svc import heartbeatwire
from svc.v1 import dispatcher_pb2 as dpb

log = logging.getLogger(__name__)


class HeartbeatSender(asyncio.DatagramProtocol):
    def __init__(
        self, key: bytes, node_id: str, session_id: str, on_answer: Callable[[dpb.HeartbeatResponse], None]
    ) -> None:
        self.key, self.node_id, self.session_id = key, node_id, session_id
        self.on_answer = on_answer
        self.counter = 0  # the last beat sent
        self.answered = 0  # the counter of the last answer taken
        self.dropped = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.target: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, cert_root: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.counter += 1
        datagram = heartbeatwire.seal(
            self.key, heartbeatwire.BEAT, self.node_id, self.session_id, self.counter, cert_root.encode()
        )
        self.transport.sendto(datagram, self.target)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        resp = self.take(data)
        if resp is None:
            self.dropped += 1
        else:
            self.on_answer(resp)

    def take(self, data: bytes) -> dpb.HeartbeatResponse | None:
        frame = heartbeatwire.parse(data)
        if (
            frame is None
            or frame.kind != heartbeatwire.ANSWER
            or (frame.node_id, frame.session_id) != (self.node_id, self.session_id)
            or frame.counter > self.counter  # answers a beat never sent
            or not heartbeatwire.authentic(self.key, frame)
            or not heartbeatwire.fresh(frame.counter, self.answered)
        ):
            return None
        try:
            resp = dpb.HeartbeatResponse.FromString(frame.payload)
        except Exception:  # (a MAC'd payload that does not parse: a newer leader's; dropped all the same)
            return None
        self.answered = frame.counter
        return resp

    def error_received(self, exc: Exception) -> None:
        log.debug("heartbeat datagram: %s", exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_sender(
    host: str, port: int, key: bytes, node_id: str, session_id: str, on_answer: Callable[[dpb.HeartbeatResponse], None]
) -> HeartbeatSender | None:
    """A sender to the leader's endpoint at host:port; None if the host does not resolve or no socket."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, target = infos[0]
        _, proto = await loop.create_datagram_endpoint(
            lambda: HeartbeatSender(key, node_id, session_id, on_answer), family=family
        )
    except (OSError, IndexError) as exc:
        log.info("no UDP heartbeats to %s:%d (%s): heartbeats on the gRPC stream", host, port, exc)
        return None
    proto.target = target
    return proto
