"""UDP heartbeats (svc/heartbeatwire.py, manager/heartbeatudp.py, node/agent/heartbeatudp.py): only the
session's own agent makes a beat that counts, once; only the leader makes an answer the node takes, once;
anything else is dropped and counted, never raised."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from manager.dispatcher import Dispatcher, Session
from manager.heartbeatudp import HeartbeatEndpoint, udp_port
from node.agent.heartbeatudp import HeartbeatSender
from svc import heartbeatwire as w
from svc.v1 import dispatcher_pb2 as dpb

KEY = bytes(range(32))


def test_a_sealed_datagram_parses_and_verifies_with_its_key_only() -> None:
    data = w.seal(KEY, w.BEAT, "node-a", "sess-1", 7, b"root")
    f = w.parse(data)
    assert f is not None
    assert (f.kind, f.node_id, f.session_id, f.counter, f.payload) == (w.BEAT, "node-a", "sess-1", 7, b"root")
    assert w.authentic(KEY, f)
    assert not w.authentic(bytes(32), f)
    assert not w.authentic(b"", f)  # a session without a key never verifies anything


def test_every_changed_byte_breaks_the_mac() -> None:
    data = w.seal(KEY, w.BEAT, "node-a", "sess-1", 7, b"root")
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        f = w.parse(bytes(bad))
        assert f is None or not w.authentic(KEY, f), i


def test_an_answer_is_not_a_beat() -> None:
    beat = w.parse(w.seal(KEY, w.BEAT, "n", "s", 1, b""))
    answer = w.parse(w.seal(KEY, w.ANSWER, "n", "s", 1, b""))
    assert beat is not None and answer is not None
    assert beat.body[1:] != answer.body[1:] or beat.mac != answer.mac
    assert beat.mac != answer.mac  # the kind is under the MAC


def test_garbage_is_not_a_frame() -> None:
    for data in (
        b"",
        b"\x01",
        b"x" * 100,
        b"\x02" + b"\x00" * 60,
        b"\x01\x01\xff\xff" + b"\x00" * 60,
        b"\x01\x01\x00\x00" + b"\x00" * 5000,
    ):
        assert w.parse(data) is None
    assert w.parse(b"\x01\x01\x02\x00\xff\xfe" + b"\x00" * 40) is None  # not UTF-8


def test_counters_only_grow() -> None:
    assert w.fresh(2, 1)
    assert not w.fresh(1, 1)
    assert not w.fresh(0, 1)


class FakeManager:
    def __init__(self) -> None:
        self.is_leader = True
        self.cluster = None
        self.writes: list[Any] = []
        node = SimpleNamespace(role="worker", cert_root="r1")
        self.state = SimpleNamespace(nodes={"node-a": node})

    def on_change(self, listener: Any) -> None:
        pass

    def manager_api_addrs(self) -> list[str]:
        return ["10.0.0.1:4242"]

    def ca(self) -> Any:
        return SimpleNamespace(root_digest="r1", ca_pem=b"")

    def write_in_background(self, op: Any, what: str) -> None:
        self.writes.append(what)


def _leader(monkeypatch: Any) -> tuple[Dispatcher, HeartbeatEndpoint, Session]:
    import manager.dispatcher as dmod

    monkeypatch.setattr(dmod.tls, "trust_fingerprint", lambda pem: "trust")
    d = Dispatcher(FakeManager())  # type: ignore[arg-type]
    s = Session("node-a", "sess-1")
    d.sessions["node-a"] = s
    return d, HeartbeatEndpoint(d), s


def test_the_leader_takes_an_authentic_new_beat_as_a_stream_beat_and_answers_it(monkeypatch: Any) -> None:
    d, ep, s = _leader(monkeypatch)
    reply = ep.take(w.seal(s.key, w.BEAT, "node-a", "sess-1", 1, b"r1"))
    assert reply is not None and d.beats["udp"] == 1
    assert time.monotonic() - d.last_seen["node-a"] < 1.0
    f = w.parse(reply)
    assert f is not None and f.kind == w.ANSWER and f.counter == 1 and w.authentic(s.key, f)
    resp = dpb.HeartbeatResponse.FromString(f.payload)
    assert (list(resp.managers), resp.role, resp.cert_root, resp.trust) == (["10.0.0.1:4242"], "worker", "r1", "trust")
    assert ep.take(w.seal(s.key, w.BEAT, "node-a", "sess-1", 2, b"r2")) is not None
    assert d.m.writes == ["recording the certificate root of node node-a"]  # a new root: written, as on the stream


def test_the_leader_drops_forged_replayed_and_stale_beats_and_counts_them(monkeypatch: Any) -> None:
    d, ep, s = _leader(monkeypatch)
    assert ep.take(w.seal(s.key, w.BEAT, "node-a", "sess-1", 5, b"r1")) is not None
    d.last_seen.clear()
    cases = {
        "replay": w.seal(s.key, w.BEAT, "node-a", "sess-1", 5, b"r1"),
        "mac": w.seal(bytes(32), w.BEAT, "node-a", "sess-1", 6, b"r1"),
        "session": w.seal(s.key, w.BEAT, "node-a", "sess-0", 7, b"r1"),
        "malformed": b"\x00" * 80,
    }
    for reason, data in cases.items():
        assert ep.take(data) is None, reason
        assert d.datagrams_rejected[reason] == 1
    assert ep.take(w.seal(s.key, w.BEAT, "node-b", "sess-1", 8, b"r1")) is None  # no such session
    assert ep.take(w.seal(s.key, w.ANSWER, "node-a", "sess-1", 9, b"")) is None  # an answer sent back
    assert "node-a" not in d.last_seen and d.beats["udp"] == 1
    d.m.is_leader = False
    assert ep.take(w.seal(s.key, w.BEAT, "node-a", "sess-1", 10, b"r1")) is None  # no longer the leader


def test_the_endpoint_survives_a_bug_in_a_beat(monkeypatch: Any) -> None:
    d, ep, s = _leader(monkeypatch)
    monkeypatch.setattr(d, "heard", lambda *a: 1 / 0)
    ep.receive(w.seal(s.key, w.BEAT, "node-a", "sess-1", 1, b"r1"), ("127.0.0.1", 1))
    assert d.datagrams_rejected["error"] == 1 and sum(d.datagrams_rejected.values()) == 1


def test_the_leaders_tick_drains_the_socket_and_answers_each_beat(monkeypatch: Any) -> None:
    import socket

    d, _, s = _leader(monkeypatch)
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    ep = HeartbeatEndpoint(d, server)
    d.udp_drain = ep.drain
    node = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    node.settimeout(2)
    try:
        for counter in (1, 2, 2, 3):  # one replayed
            node.sendto(w.seal(s.key, w.BEAT, "node-a", "sess-1", counter, b"r1"), server.getsockname())
        node.sendto(b"junk", server.getsockname())
        time.sleep(0.05)
        d.udp_drain()
        answers = [w.parse(node.recv(2048)) for _ in range(3)]
        assert [f.counter for f in answers if f is not None] == [1, 2, 3]
        assert d.beats["udp"] == 3
        assert {k: v for k, v in d.datagrams_rejected.items() if v} == {"replay": 1, "malformed": 1}
        d.udp_drain()  # nothing waiting: returns at once
    finally:
        ep.close()
        node.close()
    assert d.udp_drain is None


def test_the_node_takes_only_authentic_fresh_answers_to_beats_it_sent() -> None:
    got: list[dpb.HeartbeatResponse] = []
    n = HeartbeatSender(KEY, "node-a", "sess-1", got.append)
    payload = dpb.HeartbeatResponse(period_seconds=1.0).SerializeToString()
    assert n.take(w.seal(KEY, w.ANSWER, "node-a", "sess-1", 1, payload)) is None  # no beat sent yet
    n.counter = 3
    assert n.take(w.seal(bytes(32), w.ANSWER, "node-a", "sess-1", 2, payload)) is None  # forged
    assert n.take(w.seal(KEY, w.BEAT, "node-a", "sess-1", 2, payload)) is None  # its own beat reflected
    assert n.take(w.seal(KEY, w.ANSWER, "node-a", "sess-0", 2, payload)) is None  # another session
    assert n.take(w.seal(KEY, w.ANSWER, "node-a", "sess-1", 2, payload)) is not None
    assert n.take(w.seal(KEY, w.ANSWER, "node-a", "sess-1", 2, payload)) is None  # replayed
    assert n.take(w.seal(KEY, w.ANSWER, "node-a", "sess-1", 1, payload)) is None  # older
    n.datagram_received(w.seal(KEY, w.ANSWER, "node-a", "sess-1", 3, payload), None)
    n.datagram_received(b"junk", None)
    assert len(got) == 1 and n.dropped == 1 and n.answered == 3


def test_the_udp_port_is_the_grpc_ports_number_unless_configured_or_off() -> None:
    assert udp_port("0.0.0.0:4242", 0) == 4242
    assert udp_port("0.0.0.0:4242", 5000) == 5000
    assert udp_port("0.0.0.0:4242", -1) == 0
