"""The heartbeat datagram: one UDP datagram per beat, authenticated by the session's key.

Why: a beat on the gRPC stream costs the leader ~0.2 ms of gRPC's own machinery (HTTP/2 framing,
its poller thread, the event loop's callbacks: docs/benchmarks.md), more than everything svc does
with it. A datagram costs one recvfrom, one HMAC and one sendto.

The rule: a datagram counts only if it was made by the session's own agent code and is new.
- The key is 32 random bytes the leader gives one session at Register, over that node's mutual-TLS
  channel: only that node's session can MAC with it, and a new session (a new leader, a
  re-registration) has a new key, so nothing from an old session counts in a new one.
- HMAC-SHA256 covers every byte before it, the kind included, so an answer cannot be passed off as
  a beat (or the other way round) and no field can be changed.
- The counter only grows: the leader takes a beat only if its counter is above the last it took
  in that session, and the node takes an answer only if it answers a beat it sent, later than the
  last answer it took. A replayed or reordered datagram is dropped.

Layout (big-endian): version (1) | kind (1) | len(node id) (1) | len(session id) (1) | node id |
session id | counter (8) | payload | HMAC-SHA256 (32). A beat's payload is the node's certificate
root (UTF-8, what HeartbeatRequest.cert_root carries every beat); an answer's is a serialized
HeartbeatResponse. Pure: no sockets here (tests/unit/test_heartbeatwire.py).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from svc import defaults

VERSION = 1
BEAT = 1
ANSWER = 2
MAC_BYTES = 32
KEY_BYTES = 32
_HEAD = struct.Struct(">BBBB")
_COUNTER = struct.Struct(">Q")


@dataclass(frozen=True)
class Frame:
    kind: int
    node_id: str
    session_id: str
    counter: int
    payload: bytes
    body: bytes  # every byte the MAC covers
    mac: bytes


def seal(key: bytes, kind: int, node_id: str, session_id: str, counter: int, payload: bytes) -> bytes:
    """One datagram, MAC'd with `key`."""
    n, s = node_id.encode(), session_id.encode()
    body = b"".join((_HEAD.pack(VERSION, kind, len(n), len(s)), n, s, _COUNTER.pack(counter), payload))
    return body + hmac.digest(key, body, hashlib.sha256)


def parse(data: bytes) -> Frame | None:
    """The datagram's fields, not yet verified; None if it is not one of ours."""
    if not _HEAD.size + _COUNTER.size + MAC_BYTES <= len(data) <= defaults.HEARTBEAT_DATAGRAM_MAX_BYTES:
        return None
    version, kind, n_len, s_len = _HEAD.unpack_from(data)
    at = _HEAD.size + n_len + s_len
    if version != VERSION or kind not in (BEAT, ANSWER) or at + _COUNTER.size + MAC_BYTES > len(data):
        return None
    try:
        node_id = data[_HEAD.size : _HEAD.size + n_len].decode()
        session_id = data[_HEAD.size + n_len : at].decode()
    except UnicodeDecodeError:
        return None
    (counter,) = _COUNTER.unpack_from(data, at)
    body, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    return Frame(kind, node_id, session_id, counter, body[at + _COUNTER.size :], body, mac)


def authentic(key: bytes, frame: Frame) -> bool:
    """Whether `frame` was sealed with `key` (in constant time)."""
    return bool(key) and hmac.compare_digest(hmac.digest(key, frame.body, hashlib.sha256), frame.mac)


def fresh(counter: int, last: int) -> bool:
    """A beat (or an answer) counts only if its counter is above the last one taken."""
    return counter > last
