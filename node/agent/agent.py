"""The cluster agent of a node: identity, description, session and worker, started by `svcd node --join`.

Identity: the node's certificate from joining (kept in `<state dir>/tls`), or, where the
daemon that assembles the agent says so (`svcd up`, a promoted node), the manager's own, so
the host is one node. The certificate is renewed at a random 50-80 % of its lifetime, and at once
when the leader's heartbeat answer names another signing root or trust bundle (a CA rotation).
A renewal keeps the session: its connection stays up on the old certificate, new connections
use the new one; only a change of role (promotion, demotion) starts a new session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import ssl
import time
from typing import Any

import psutil

from svc import defaults, tls
from svc.errors import InvalidArgument
from svc.fsutil import read_json, write_json
from svc.v1 import ca_pb2 as capb
from svc.v1 import ca_pb2_grpc as capb_grpc
from svc.v1 import cluster_pb2 as cpb

from .engineapi import EngineAPI
from .session import Session
from .worker import Worker

log = logging.getLogger("svcd.agent")


async def join(state_dir: str, addr: str, token: str, hostname: str) -> tls.Identity:
    """Join with a token (once): the node's certificate, kept in `<state dir>/tls`."""
    from svc.join import obtain_identity

    if not token:
        raise InvalidArgument("this node has not joined a cluster yet: give --join ADDR --token TOKEN")
    identity = await obtain_identity(addr, token, hostname or socket.gethostname(), want_role="worker")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    identity.save(os.path.join(state_dir, "tls"))
    log.info("joined cluster %s as node %s", identity.cluster_id, identity.node_id[:12])
    return identity


def needs_join(state_dir: str) -> bool:
    """This node has no certificate of its own yet."""
    return not os.path.exists(os.path.join(state_dir, "tls", "cert.pem"))


class Agent:
    def __init__(
        self,
        engine: EngineAPI,
        state_dir: str,
        join: str,
        token: str,
        hostname: str,
        labels: dict[str, str],
        addr: str,
        metrics_addr: str,
        shared_identity_dir: str = "",
        peer_addr: str = "",
    ) -> None:
        self.engine = engine
        self.state_dir = state_dir
        self.join = join
        self.token = token
        self.hostname = hostname or socket.gethostname()
        self.labels = labels
        self.addr = addr
        self.metrics_addr = metrics_addr
        self.peer_addr = peer_addr  # HOST:PORT of this node's peer server ("" when it serves no peers)
        self._peer_tls: tuple[tls.Identity | None, ssl.SSLContext | None] = (None, None)
        # On a manager host the node is the manager's node: it uses (and never renews) the manager's identity.
        self.shared_identity_dir = shared_identity_dir
        self.identity = tls.Identity.load(shared_identity_dir or os.path.join(state_dir, "tls"))
        self.worker: Worker | None = None
        self.session: Session | None = None
        self.on_promoted: Any = None  # async (identity, leader address) -> None, set by the node daemon
        self._promotion: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._ca_renewal: asyncio.Task[None] | None = None
        self._ca_renewal_at = 0.0  # when the last one started (they are spaced out)
        self._cert_root: tuple[tls.Identity | None, str] = (None, "")
        self._static = self._static_description()

    @property
    def node_id(self) -> str:
        assert self.identity is not None
        return self.identity.node_id

    def _static_description(self) -> cpb.NodeDescription:
        from node.engine.imageconfig import host_architecture

        info = self.engine.info()
        metrics = self.metrics_addr
        if metrics.startswith(("0.0.0.0:", ":")):
            metrics = f"{self.addr}:{metrics.rsplit(':', 1)[1]}"
        return cpb.NodeDescription(
            hostname=self.hostname,
            nano_cpus=int((os.cpu_count() or 1) * 1e9),
            memory_bytes=psutil.virtual_memory().total,
            os="linux",
            architecture=host_architecture(),
            engine_version=str(info.get("version", "")),
            runtime=str(info.get("runtime", "")),
            engine_labels=self.labels,
            addr=self.addr,
            metrics_addr=metrics,
            peer_addr=self.peer_addr,
        )

    def describe(self) -> cpb.NodeDescription:
        d = cpb.NodeDescription()
        d.CopyFrom(self._static)
        d.images.extend(sorted(self.engine.image_refs()))
        return d

    def _managers(self) -> list[str]:
        saved = read_json(os.path.join(self.state_dir, "managers.json"), [])
        out = [self.join] if self.join else []
        return out + [m for m in saved if m not in out]

    def _save_managers(self, managers: list[str]) -> None:
        write_json(os.path.join(self.state_dir, "managers.json"), managers, mode=0o600, fsync=False)

    async def start(self) -> None:
        if self.identity is None:
            self.identity = await join(self.state_dir, self.join, self.token, self.hostname)
        managers = self._managers()
        if not managers:
            raise InvalidArgument("no manager address known: give --join ADDR")
        worker = Worker(self.engine, self.node_id, on_status=self._wake_sender)
        worker.peer_tls = self.peer_tls
        self.worker = worker
        self.session = Session(
            worker,
            self.current_identity,
            managers,
            self.describe,
            self._save_managers,
        )
        self.session.on_role = self._on_role
        self.session.on_ca = self._on_ca
        self.session.cert_root = self._own_cert_root
        self._tasks = [
            asyncio.create_task(worker.run(), name="agent-worker"),
            asyncio.create_task(self.session.run(), name="agent-session"),
            asyncio.create_task(self._renewals(), name="agent-renewals"),
        ]

    def _on_role(self, role: str) -> None:
        """The leader says this node is a manager (svc node promote): renew into a manager's certificate,
        then let the daemon start a manager here."""
        assert self.identity is not None
        if role == "manager" and self.identity.role == "worker" and self._promotion is None and self.on_promoted:
            self._promotion = asyncio.create_task(self._promote())

    async def _promote(self) -> None:
        try:
            await self._renew()
            assert self.identity is not None and self.session is not None and self.on_promoted is not None
            if self.identity.role != "manager":
                return  # the store changed its mind meanwhile
            log.info("this node was promoted: starting a manager here")
            await self.on_promoted(self.identity, self.session.connected_to or self._managers()[0])
        except Exception as exc:
            log.error("promotion failed: %s", exc)
        finally:
            self._promotion = None

    def _own_cert_root(self) -> str:
        """The digest of the root that signed this node's certificate (cached per identity); "" on a
        manager host, whose manager reports it for the identity they share (ours may lag behind it)."""
        if self.shared_identity_dir:
            return ""
        if self._cert_root[0] is not self.identity and self.identity is not None:
            self._cert_root = (self.identity, tls.issuer_digest(self.identity))
        return self._cert_root[1]

    def _on_ca(self, cert_root: str, trust: str) -> None:
        """The leader's CA facts: renew at once if this certificate or trust bundle is not the current one.
        (A manager host's node does not: the manager renews the identity it shares.)"""
        if self.identity is None or self.shared_identity_dir or self._promotion is not None:
            return
        if cert_root == self._own_cert_root() and (not trust or trust == tls.trust_fingerprint(self.identity.ca_pem)):
            return
        if self._ca_renewal is not None or time.monotonic() - self._ca_renewal_at < defaults.CA_RENEW_SPACING_SECONDS:
            return
        self._ca_renewal_at = time.monotonic()
        self._ca_renewal = asyncio.create_task(self._renew_for_ca(), name="agent-ca-renewal")

    async def _renew_for_ca(self) -> None:
        try:
            await self._renew()
            log.info("renewed for the cluster's CA (certificate root %s)", self._own_cert_root()[:12])
        except Exception as exc:
            log.warning("certificate renewal for a CA rotation failed: %s; trying again", exc)
        finally:
            self._ca_renewal = None

    def take_over_identity(self) -> None:
        """After a demotion: keep the certificate the manager used and renew it ourselves from now on."""
        if self.shared_identity_dir and self.identity is not None:
            self.identity.save(os.path.join(self.state_dir, "tls"))
            self.shared_identity_dir = ""
            self._tasks.append(asyncio.create_task(self._renewals(), name="agent-renewals"))

    def peer_tls(self) -> ssl.SSLContext | None:
        """The client TLS context for other nodes' peer servers: this node's current certificate
        (rebuilt after a renewal or a CA rotation)."""
        ident = self.identity
        if ident is None:
            return None
        if self._peer_tls[0] is not ident:
            try:
                self._peer_tls = (ident, tls.ssl_context(ident, server=False))
            except (ssl.SSLError, OSError, ValueError) as exc:  # then the pull asks the registry alone
                log.warning("no TLS context for image peers: %s", exc)
                self._peer_tls = (ident, None)
        return self._peer_tls[1]

    def current_identity(self) -> tls.Identity:
        assert self.identity is not None
        return self.identity

    def _wake_sender(self) -> None:
        if self.session is not None:
            self.session.wake_sender()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.worker:
            await self.worker.close()

    async def _renewals(self) -> None:
        """Renew the certificate at a random 50-80 % of its lifetime, then use it at once."""
        if self.shared_identity_dir:
            await self._follow_shared_identity()
            return
        while True:
            assert self.identity is not None
            lo, hi = defaults.CERT_RENEW_FRACTION
            life = self.identity.expires_at - self.identity.issued_at
            at = self.identity.issued_at + life * random.uniform(lo, hi)
            await asyncio.sleep(max(1.0, at - time.time()))
            try:
                await self._renew()
            except Exception as exc:
                log.warning("certificate renewal failed: %s; retrying", exc)
                await asyncio.sleep(min(defaults.RENEW_RETRY_MAX_SECONDS, max(1.0, life * 0.02)))

    async def _follow_shared_identity(self) -> None:
        """The manager renews the shared identity; pick up each new certificate."""
        while True:
            await asyncio.sleep(defaults.SHARED_IDENTITY_POLL_SECONDS)
            fresh = tls.Identity.load(self.shared_identity_dir)
            if fresh is not None and self.identity is not None and fresh.cert_pem != self.identity.cert_pem:
                role_changed = fresh.role != self.identity.role
                self.identity = fresh
                if self.session and role_changed:
                    self.session.reconnect()

    async def _renew(self) -> None:
        assert self.identity is not None and self.session is not None
        key, key_pem = tls.new_key()
        addr = self.session.connected_to or self._managers()[0]
        channel = tls.secure_channel(addr, self.identity)
        try:
            resp = await capb_grpc.NodeCAStub(channel).RenewCertificate(
                capb.RenewCertificateRequest(csr_pem=tls.new_csr(key)), timeout=defaults.RENEW_RPC_TIMEOUT_SECONDS
            )
        finally:
            await channel.close()
        role_changed = resp.role != self.identity.role
        self.identity = tls.Identity(ca_pem=resp.ca_pem, cert_pem=resp.cert_pem, key_pem=key_pem)
        self.identity.save(os.path.join(self.state_dir, "tls"))
        log.info("certificate renewed (valid until %s)", time.ctime(self.identity.expires_at))
        if role_changed:
            self.session.reconnect()  # the managers authorize by the certificate's role: a new session with it
