"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside every container on an overlay network.

Rule: one thread in the node daemon holds one UDP socket and one listening TCP socket per such
container, each made inside that container's namespace (nlns.socket_in) and bound to 127.0.0.11
on a port the kernel picks, and one nftables table there (`redirect_ruleset`) sends what the
container sends to 127.0.0.11:53 to those ports (conntrack answers from 53), as Docker's does: port
53 stays the task's own, so a DNS server in a task can listen on it. No process is added to the
container; when the sockets are made again (a restarted daemon's) the table is replaced whole and
the container's conntrack entries to the old ports are deleted, so a client that keeps one socket
is not left sending to a port nobody holds. An answer too large for
UDP goes out truncated (TC, dnswire.fit_udp) and the client asks again over TCP; a TCP connection
is served on a small pool, a few seconds at most, never on the serving thread. Names of the
container's networks (dnsnames) are answered from the managers' latest peer sets; other names
are forwarded, from the daemon's own namespace, to the host's resolvers (so a resolver on the
host's loopback works) on a small pool, over the protocol the query came by. A socket holds its
namespace: `remove` closes it before the namespace goes.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from svc.errors import RuntimeFailure
from svc.v1 import dispatcher_pb2 as dpb

from . import dnsnames, dnswire, vips
from .nlns import socket_in

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
PORT = 53  # where the container asks; the sockets' own ports are the kernel's choice
TABLE = "svc_dns"
HOST_RESOLV_CONF = "/etc/resolv.conf"
FORWARD_TIMEOUT = 2.0
TCP_IDLE = 3.0  # a TCP connection without a query for this long is closed
TCP_MAX_SECONDS = 10.0  # and any after this long in all
TTL = 0  # a task that starts or stops is seen at the next query


def host_nameservers(path: str = HOST_RESOLV_CONF) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for ln in lines:
        parts = ln.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            out.append(parts[1])
    return out


class Resolver:
    def __init__(self, upstreams: list[str] | None = None) -> None:
        self._upstreams = upstreams  # None: the host's resolv.conf, read at each forward
        self._lock = threading.Lock()
        self._networks: dict[str, dpb.NetworkPeers] = {}
        self._attached: dict[str, list[str]] = {}  # container id -> network ids, attachment order
        self._tables: dict[str, dnsnames.Table] = {}
        self._socks: dict[str, socket.socket] = {}
        self._tcp: dict[str, socket.socket] = {}  # container id -> its listening TCP socket
        self._sel = selectors.DefaultSelector()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-forward")
        self._tcp_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-tcp")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ----- containers and names -----

    def add(self, cid: str, netns: str, network_ids: list[str]) -> None:
        sock = _bound(cid, netns, socket.SOCK_DGRAM)
        try:
            listener = _bound(cid, netns, socket.SOCK_STREAM)
        except RuntimeFailure:
            sock.close()
            raise
        try:
            vips.apply(netns, redirect_ruleset(sock.getsockname()[1], listener.getsockname()[1]))
        except RuntimeFailure as exc:
            sock.close()
            listener.close()
            raise RuntimeFailure(f"DNS server in container {cid[:12]}: {exc}") from None
        try:  # made again (a restarted daemon's): a client's socket still mapped to the old ports moves
            vips.forget(netns, [(ADDRESS, ADDRESS)])
        except RuntimeFailure as exc:
            log.debug("DNS server in container %s: %s", cid[:12], exc)
        with self._lock:
            self._drop(cid)
            self._socks[cid] = sock
            self._tcp[cid] = listener
            self._attached[cid] = list(network_ids)
            self._tables[cid] = dnsnames.container_table(self._networks, network_ids)
            self._sel.register(sock, selectors.EVENT_READ, (cid, "udp"))
            self._sel.register(listener, selectors.EVENT_READ, (cid, "tcp"))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)
                self._thread.start()

    def remove(self, cid: str) -> None:
        with self._lock:
            self._drop(cid)
            self._attached.pop(cid, None)
            self._tables.pop(cid, None)

    def _drop(self, cid: str) -> None:
        for socks in (self._socks, self._tcp):
            sock = socks.pop(cid, None)
            if sock is not None:
                self._sel.unregister(sock)
                sock.close()

    def serving(self) -> list[str]:
        with self._lock:
            return sorted(self._socks)

    def set_networks(self, networks: list[dpb.NetworkPeers]) -> None:
        with self._lock:
            self._networks = {n.network_id: n for n in networks}
            for cid, ids in self._attached.items():
                self._tables[cid] = dnsnames.container_table(self._networks, ids)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for cid in list(self._socks):
                self._drop(cid)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._tcp_pool.shutdown(wait=False, cancel_futures=True)

    # ----- serving -----

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._sel.select(timeout=0.5)
            except OSError:
                continue
            for key, _ in events:
                cid, kind = key.data
                with self._lock:
                    sock = (self._socks if kind == "udp" else self._tcp).get(cid)
                    table = self._tables.get(cid, {})
                if sock is None or sock is not key.fileobj:
                    continue
                try:
                    if kind == "tcp":
                        conn, _ = sock.accept()
                        self._tcp_pool.submit(self._serve_tcp, conn, table)
                        continue
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    continue
                try:
                    self._handle(sock, data, peer, table)
                except Exception:
                    log.debug("DNS query from %s dropped", peer, exc_info=True)

    def _answer(self, data: bytes, table: dnsnames.Table) -> bytes | None:
        """Our answer to a query, or None when the name is not ours (forward it)."""
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        req = DNSRecord.parse(data)
        q = req.q
        addrs = dnsnames.lookup(table, str(q.qname))
        if addrs is None:
            return None
        reply = req.reply()
        if q.qtype in (QTYPE.A, QTYPE.ANY):
            for a in addrs:
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(a), ttl=TTL))
        if not addrs and q.qtype == QTYPE.A:
            reply.header.rcode = RCODE.NOERROR  # a service without a running task: known, no address
        return bytes(reply.pack())

    def _handle(self, sock: socket.socket, data: bytes, peer: tuple[str, int], table: dnsnames.Table) -> None:
        answer = self._answer(data, table)
        if answer is None:
            self._pool.submit(self._forward, sock, data, peer)
            return
        _send(sock, dnswire.fit_udp(answer, dnswire.udp_limit(data)), peer)

    def _serve_tcp(self, conn: socket.socket, table: dnsnames.Table) -> None:
        deadline = time.monotonic() + TCP_MAX_SECONDS
        buf = b""
        with conn:
            conn.settimeout(TCP_IDLE)
            while time.monotonic() < deadline and not self._stop.is_set():
                try:
                    chunk = conn.recv(65537)
                except OSError:
                    return
                if not chunk:
                    return
                queries, buf = dnswire.unframe(buf + chunk)
                for q in queries:
                    try:
                        answer = self._answer(q, table)
                        if answer is None:
                            answer = self._forward_tcp(q)
                        conn.sendall(dnswire.frame(answer))
                    except Exception:
                        log.debug("DNS query over TCP dropped", exc_info=True)
                        return

    def _upstreams_now(self) -> list[tuple[str, int]]:
        servers = self._upstreams if self._upstreams is not None else host_nameservers()
        out = []
        for server in servers:
            host, _, port = server.partition(":")  # a port only in tests
            out.append((host, int(port or PORT)))
        return out

    def _forward_tcp(self, data: bytes) -> bytes:
        from dnslib import RCODE, DNSRecord

        for addr in self._upstreams_now():
            try:
                with socket.create_connection(addr, timeout=FORWARD_TIMEOUT) as up:
                    up.sendall(dnswire.frame(data))
                    buf = b""
                    while True:
                        chunk = up.recv(65537)
                        if not chunk:
                            break
                        got, buf = dnswire.unframe(buf + chunk)
                        if got:
                            return got[0]
            except OSError:
                continue
        reply = DNSRecord.parse(data).reply()
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())

    def _forward(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        from dnslib import RCODE, DNSRecord

        for addr in self._upstreams_now():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(FORWARD_TIMEOUT)
                try:
                    up.sendto(data, addr)
                    answer, _ = up.recvfrom(65535)
                except OSError:
                    continue
            _send(sock, answer, peer)
            return
        try:
            reply = DNSRecord.parse(data).reply()
            reply.header.rcode = RCODE.SERVFAIL
            _send(sock, reply.pack(), peer)
        except Exception:
            pass


def redirect_ruleset(udp_port: int, tcp_port: int) -> str:
    """The container's table: its queries to 127.0.0.11:53 go to the server's own ports there."""
    return "\n".join(
        [
            f"table ip {TABLE}",
            f"delete table ip {TABLE}",
            f"table ip {TABLE} {{",
            "  chain output {",
            "    type nat hook output priority -100; policy accept;",
            f"    ip daddr {ADDRESS} udp dport {PORT} dnat to {ADDRESS}:{udp_port}",
            f"    ip daddr {ADDRESS} tcp dport {PORT} dnat to {ADDRESS}:{tcp_port}",
            "  }",
            "}",
            "",
        ]
    )


def _bound(cid: str, netns: str, kind: int) -> socket.socket:
    """A socket in the container's namespace bound to 127.0.0.11, on a port the kernel picks
    (listening, for TCP)."""
    sock = socket_in(netns, socket.AF_INET, kind)
    try:
        sock.bind((ADDRESS, 0))
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
        what = f"DNS server in container {cid[:12]}: binding {ADDRESS}/{proto}"
        raise RuntimeFailure(f"{what}: {exc.strerror}") from None
    return sock


def _send(sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
    try:
        sock.sendto(data, peer)
    except OSError:
        pass  # the container went away, or its socket was closed meanwhile
