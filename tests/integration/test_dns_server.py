"""The embedded DNS server (node/engine/dns.py) in a namespace of its own: its names answered there,
also while something else there holds port 53 on the wildcard address, other names forwarded from
the daemon's namespace (a fake upstream on loopback), nothing held after."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from node.engine.dns import Resolver
from node.engine.netns import Namespaces
from node.engine.nlns import socket_in
from svc.v1 import dispatcher_pb2 as dpb

pytestmark = pytest.mark.root


@pytest.fixture
def upstream() -> Iterator[int]:
    """A resolver on 127.0.0.1 that answers every name with 192.0.2.1."""
    from dnslib import QTYPE, RR, A, DNSRecord

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            req = DNSRecord.parse(data)
            reply = req.reply()
            reply.add_answer(RR(req.q.qname, QTYPE.A, rdata=A("192.0.2.1")))
            sock.sendto(reply.pack(), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    sock.close()


def _ask(ns: str, name: str, sock: socket.socket | None = None) -> tuple[int, list[str]]:
    """Over a new socket in `ns`, or over `sock` (kept by the caller)."""
    from dnslib import DNSRecord

    with contextlib.ExitStack() as stack:
        s = sock or stack.enter_context(socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM))
        s.settimeout(5)
        s.sendto(DNSRecord.question(name).pack(), ("127.0.0.11", 53))
        reply = DNSRecord.parse(s.recvfrom(4096)[0])
    return reply.header.rcode, [str(rr.rdata) for rr in reply.rr]


def test_names_answered_others_forwarded(tmp_path, upstream: int) -> None:  # type: ignore[no-untyped-def]
    namespaces = Namespaces(str(tmp_path / "netns"))
    ns = namespaces.create("svc-dnstest")
    dns = Resolver(upstreams=[f"127.0.0.1:{upstream}"])
    try:
        dns.add("c" * 64, ns, ["n1"])
        svc = dpb.ServiceEndpoint(name="api", vip="10.0.1.2/24", task_addrs=["10.0.1.5"])
        dns.set_networks([dpb.NetworkPeers(network_id="n1", name="backend", services=[svc])])
        assert _ask(ns, "api") == (0, ["10.0.1.2"])
        assert _ask(ns, "tasks.api.backend.") == (0, ["10.0.1.5"])
        assert _ask(ns, "example.test") == (0, ["192.0.2.1"]), "forwarded to the host's resolver"
        # Port 53 stays the container's own: a DNS server in it binds the wildcard address there, over
        # both protocols, and 127.0.0.11:53 is still answered by ours (its sockets are elsewhere).
        with (
            socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM) as u,
            socket_in(ns, socket.AF_INET, socket.SOCK_STREAM) as t,
        ):
            u.bind(("0.0.0.0", 53))
            t.bind(("0.0.0.0", 53))
            t.listen(1)
            assert _ask(ns, "api") == (0, ["10.0.1.2"])
            assert _ask_tcp(ns, "api") == (0, ["10.0.1.2"])
        # Made again, as a restarted daemon does for a container it adopts: other ports, and a client
        # that keeps one socket (its conntrack entry to the old port refreshed by every query) moves too.
        with socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM) as kept:
            kept.settimeout(5)
            assert _ask(ns, "api", kept) == (0, ["10.0.1.2"])
            dns.add("c" * 64, ns, ["n1"])
            assert _ask(ns, "api", kept) == (0, ["10.0.1.2"])
        dns.set_networks([])
        assert _ask(ns, "api") == (0, ["192.0.2.1"]), "a name of a network gone is no longer ours"
        dns.remove("c" * 64)
        assert dns.serving() == []
    finally:
        dns.close()
        namespaces.delete("svc-dnstest")
    assert not (tmp_path / "netns").exists() or not list((tmp_path / "netns").iterdir())


def _ask_tcp(ns: str, name: str) -> tuple[int, list[str]]:
    from dnslib import DNSRecord

    from node.engine import dnswire

    with socket_in(ns, socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(("127.0.0.11", 53))
        s.sendall(dnswire.frame(DNSRecord.question(name).pack()))
        buf = b""
        while True:
            got, buf = dnswire.unframe(buf + s.recv(65537))
            if got:
                break
    reply = DNSRecord.parse(got[0])
    return reply.header.rcode, [str(rr.rdata) for rr in reply.rr]


def test_large_answer_truncated_over_udp_whole_over_tcp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dnslib import DNSRecord

    namespaces = Namespaces(str(tmp_path / "netns"))
    ns = namespaces.create("svc-dnstcp")
    dns = Resolver(upstreams=[])
    addrs = [f"10.0.1.{i}" for i in range(10, 70)]  # 60 A records: ~1 kB, more than 512 bytes
    try:
        dns.add("d" * 64, ns, ["n1"])
        svc = dpb.ServiceEndpoint(name="big", vip="10.0.1.2/24", task_addrs=addrs)
        dns.set_networks([dpb.NetworkPeers(network_id="n1", name="backend", services=[svc])])
        with socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(DNSRecord.question("tasks.big").pack(), ("127.0.0.11", 53))
            data = s.recvfrom(4096)[0]
        udp = DNSRecord.parse(data)
        assert len(data) <= 512 and udp.header.tc == 1 and not udp.rr, "truncated over UDP, TC set"
        assert _ask_tcp(ns, "tasks.big") == (0, addrs), "the whole answer over TCP"
        assert _ask_tcp(ns, "big") == (0, ["10.0.1.2"])
        assert _ask_tcp(ns, "nosuch.example") == (2, []), "no upstream: SERVFAIL over TCP too"
        dns.remove("d" * 64)
        assert dns.serving() == []
    finally:
        dns.close()
        namespaces.delete("svc-dnstcp")
    assert not (tmp_path / "netns").exists() or not list((tmp_path / "netns").iterdir())
