"""node/engine/dnswire.py: the UDP size limit, truncation with TC, TCP framing."""

from __future__ import annotations

from dnslib import EDNS0, QTYPE, RR, A, DNSRecord

from node.engine import dnswire


def _big_reply() -> DNSRecord:
    reply = DNSRecord.question("big.example").reply()
    for i in range(60):
        reply.add_answer(RR("big.example", QTYPE.A, rdata=A(f"10.0.0.{i}")))
    return reply


def test_udp_limit_default_and_edns() -> None:
    assert dnswire.udp_limit(DNSRecord.question("a").pack()) == 512
    q = DNSRecord.question("a")
    q.add_ar(EDNS0(udp_len=1232))
    assert dnswire.udp_limit(q.pack()) == 1232
    q2 = DNSRecord.question("a")
    q2.add_ar(EDNS0(udp_len=65000))
    assert dnswire.udp_limit(q2.pack()) == 4096
    assert dnswire.udp_limit(b"junk") == 512


def test_fit_udp_truncates_with_tc() -> None:
    full = _big_reply().pack()
    assert len(full) > 512
    short = DNSRecord.parse(dnswire.fit_udp(full, 512))
    assert short.header.tc == 1 and not short.rr and str(short.q.qname) == "big.example."
    assert dnswire.fit_udp(full, 4096) == full


def test_frame_unframe() -> None:
    a, b = b"\x01\x02\x03", b"hello"
    buf = dnswire.frame(a) + dnswire.frame(b)
    assert dnswire.unframe(buf) == ([a, b], b"")
    assert dnswire.unframe(buf[:-1]) == ([a], dnswire.frame(b)[:-1])
    assert dnswire.unframe(b"\x00") == ([], b"\x00")
