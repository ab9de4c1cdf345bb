"""The embedded DNS server: 127.0.0.11:53 (UDP) inside every container on an overlay network.

Rule: one thread in the node daemon holds one UDP socket per such container, each made inside
that container's namespace (nlns.socket_in) and bound to 127.0.0.11:53 there, so no rule and no
process is added to the container. Names of the container's networks (dnsnames) are answered
from the managers' latest peer sets; other names are forwarded, from the daemon's own namespace,
to the host's resolvers (so a resolver on the host's loopback works) on a small pool, never on
the serving thread. A socket holds its namespace: `remove` closes it before the namespace goes.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from svc.errors import RuntimeFailure
from svc.v1 import dispatcher_pb2 as dpb

from . import dnsnames
from .nlns import socket_in

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
PORT = 53
HOST_RESOLV_CONF = "/etc/resolv.conf"
FORWARD_TIMEOUT = 2.0
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
        self._sel = selectors.DefaultSelector()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns-forward")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ----- containers and names -----

    def add(self, cid: str, netns: str, network_ids: list[str]) -> None:
        sock = socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((ADDRESS, PORT))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            what = f"DNS server in container {cid[:12]}: binding {ADDRESS}:{PORT}"
            raise RuntimeFailure(f"{what}: {exc.strerror}") from None
        with self._lock:
            old = self._socks.pop(cid, None)
            if old is not None:
                self._sel.unregister(old)
                old.close()
            self._socks[cid] = sock
            self._attached[cid] = list(network_ids)
            self._tables[cid] = dnsnames.container_table(self._networks, network_ids)
            self._sel.register(sock, selectors.EVENT_READ, cid)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)
                self._thread.start()

    def remove(self, cid: str) -> None:
        with self._lock:
            sock = self._socks.pop(cid, None)
            self._attached.pop(cid, None)
            self._tables.pop(cid, None)
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
                sock = self._socks.pop(cid)
                self._sel.unregister(sock)
                sock.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----- serving -----

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._sel.select(timeout=0.5)
            except OSError:
                continue
            for key, _ in events:
                with self._lock:
                    sock = self._socks.get(key.data)
                    table = self._tables.get(key.data, {})
                if sock is None or sock is not key.fileobj:
                    continue
                try:
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    continue
                try:
                    self._handle(sock, data, peer, table)
                except Exception:
                    log.debug("DNS query from %s dropped", peer, exc_info=True)

    def _handle(self, sock: socket.socket, data: bytes, peer: tuple[str, int], table: dnsnames.Table) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        req = DNSRecord.parse(data)
        q = req.q
        addrs = dnsnames.lookup(table, str(q.qname))
        if addrs is None:
            self._pool.submit(self._forward, sock, data, peer)
            return
        reply = req.reply()
        if q.qtype in (QTYPE.A, QTYPE.ANY):
            for a in addrs:
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(a), ttl=TTL))
        if not addrs and q.qtype == QTYPE.A:
            reply.header.rcode = RCODE.NOERROR  # a service without a running task: known, no address
        _send(sock, reply.pack(), peer)

    def _forward(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        from dnslib import RCODE, DNSRecord

        upstreams = self._upstreams if self._upstreams is not None else host_nameservers()
        for server in upstreams:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(FORWARD_TIMEOUT)
                host, _, port = server.partition(":")  # a port only in tests
                try:
                    up.sendto(data, (host, int(port or PORT)))
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


def _send(sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
    try:
        sock.sendto(data, peer)
    except OSError:
        pass  # the container went away, or its socket was closed meanwhile
