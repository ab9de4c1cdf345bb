"""Joining and identity on the manager: NodeCA (tokens -> certificates, renewals, the root CA and
its rotation) and Membership.

Issuing happens on whichever manager is asked (every manager holds the CA through the
store); the node record is written through Raft so a removed node's id is refused from
then on, whatever manager it tries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from svc import defaults, tls
from svc.errors import PermissionDenied, Unauthenticated, Unavailable
from svc.rpc import handler
from svc.v1 import ca_pb2 as capb
from svc.v1 import ca_pb2_grpc as capb_grpc
from svc.v1 import cluster_pb2 as cpb

from . import carotation
from .auth import ANONYMOUS, current_peer
from .core import Manager
from .store import ops
from .store.objects import MANAGER, NodeObj

log = logging.getLogger(__name__)


class NodeCAService(capb_grpc.NodeCAServicer):
    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def _lifetime(self) -> float:
        cluster = self.m.cluster
        if cluster is None:
            raise Unavailable("the cluster is not ready yet")
        return cluster.cert_lifetime

    @handler
    async def IssueCertificate(
        self, request: capb.IssueCertificateRequest, context: Any
    ) -> capb.IssueCertificateResponse:
        peer = current_peer.get()
        cluster = self.m.cluster
        if cluster is None:
            raise Unavailable("the cluster is not ready yet")
        ca = self.m.ca()
        try:
            role = ca.check_token(request.token, cluster.worker_secret, cluster.manager_secret)
        except Exception as exc:
            log.warning("refused a join from %s: %s", peer.address, exc)
            raise
        node_id = ops.new_id()
        cert = ca.issue(request.csr_pem, node_id, role, cluster.cert_lifetime)
        if role != MANAGER:
            # Managers are recorded when they join Raft; workers when they first register.
            pass
        log.info("issued a %s certificate to %s (%s) at %s", role, request.hostname or "?", node_id[:12], peer.address)
        return self._response(node_id, role, cert)

    def _response(self, node_id: str, role: str, cert: bytes) -> capb.IssueCertificateResponse:
        ident = tls.Identity(ca_pem=self.m.ca().ca_pem, cert_pem=cert, key_pem=b"")
        return capb.IssueCertificateResponse(
            node_id=node_id,
            role=role,
            cert_pem=cert,
            ca_pem=ident.ca_pem,
            managers=self.m.manager_api_addrs(),
            expires_at=ident.expires_at,
        )

    @handler
    async def RenewCertificate(
        self, request: capb.RenewCertificateRequest, context: Any
    ) -> capb.IssueCertificateResponse:
        peer = current_peer.get()
        if peer.role == ANONYMOUS:
            raise Unauthenticated("renewal needs the current certificate")
        role = peer.role
        node = self.m.snapshot().nodes.get(peer.node_id)
        if node is not None and role in ("worker", "manager"):
            role = node.role  # promotion and demotion take effect at renewal
        cert = self.m.ca().issue(request.csr_pem, peer.node_id, role, self._lifetime())
        log.info("renewed the certificate of %s (%s)", peer.node_id[:12], role)
        return self._response(peer.node_id, role, cert)

    @handler
    async def RootInfo(self, request: capb.RootInfoRequest, context: Any) -> capb.RootInfoResponse:
        return self._root_info()

    @handler
    async def RotateRoot(self, request: capb.RotateRootRequest, context: Any) -> capb.RootInfoResponse:
        """On the leader (forwarded there): the new root, cross-signed by the current one, into the store."""
        if not self.m.is_leader:
            channel = await self.m.leader_channel()
            return await capb_grpc.NodeCAStub(channel).RotateRoot(request, timeout=defaults.FORWARD_TIMEOUT_SECONDS)
        await self.m.barrier()  # decide on the latest cluster record
        cluster = self.m.cluster
        if cluster is None:
            raise Unavailable("the cluster is not ready yet")
        changes = await asyncio.to_thread(carotation.start_changes, cluster, time.time())
        await self.m.write(ops.cluster_update(cluster.version, **changes))
        log.info(
            "CA rotation started: root %s -> %s",
            tls.ca_digest(cluster.ca_cert_pem)[:12],
            tls.ca_digest(changes["ca_next_cert_pem"])[:12],
        )
        return self._root_info()

    def _root_info(self) -> capb.RootInfoResponse:
        cluster = self.m.cluster
        if cluster is None:
            raise Unavailable("the cluster is not ready yet")
        ca = self.m.ca()
        snap = self.m.snapshot()
        p = carotation.progress(snap.cluster, snap.nodes.values(), carotation.unreachable_managers(self.m))

        def named(ids: tuple[str, ...]) -> list[str]:
            return [f"{snap.nodes[i].hostname} ({i[:12]})" for i in ids if i in snap.nodes]

        return capb.RootInfoResponse(
            fingerprint=ca.root_digest,
            expires_at=ca.cert.not_valid_after_utc.timestamp(),
            rotating=p.rotating,
            old_fingerprint=p.old,
            rotation_started=cluster.ca_rotation_started,
            nodes=p.counted,
            renewed=len(p.renewed),
            pending=named(p.pending),
            down=named(p.down),
            ca_pem=ca.ca_pem,
        )


class MembershipService(capb_grpc.MembershipServicer):
    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self._lock = asyncio.Lock()

    @handler
    async def JoinRaft(self, request: capb.JoinRaftRequest, context: Any) -> capb.JoinRaftResponse:
        peer = current_peer.get()
        if peer.role != MANAGER:
            raise PermissionDenied("only managers join Raft")
        if not self.m.is_leader:
            channel = await self.m.leader_channel()
            return await capb_grpc.MembershipStub(channel).JoinRaft(request, timeout=defaults.FORWARD_TIMEOUT_SECONDS)
        async with self._lock:  # one membership change at a time
            members = self.m.raft.members()
            if request.raft_addr not in members:
                log.info("adding manager %s (%s) to Raft", request.raft_addr, peer.node_id[:12])
                # Do not wait for the commit: it needs the new member up, and it starts after we answer.
                asyncio.get_running_loop().run_in_executor(None, self._add, request.raft_addr)
            desc = cpb.NodeDescription(hostname=request.hostname)
            node = NodeObj(
                id=peer.node_id, role=MANAGER, description=desc, raft_addr=request.raft_addr, api_addr=request.api_addr
            )
            self.m.write_in_background(ops.node_register(node), f"recording manager {node.raft_addr}", attempts=100)
        cluster = self.m.cluster
        assert cluster is not None
        peers = sorted(set(members) | {request.raft_addr})
        return capb.JoinRaftResponse(raft_secret=cluster.raft_secret, raft_peers=peers, cluster_id=self.m.cluster_id)

    def _add(self, raft_addr: str) -> None:
        try:
            self.m.raft.add_member(raft_addr)
            log.info("manager %s is a Raft member", raft_addr)
        except Exception as exc:
            log.error("adding %s to Raft failed: %s", raft_addr, exc)
