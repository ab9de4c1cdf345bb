"""Who may call what on a manager: one table, one interceptor.

The caller's identity is the certificate it presented in the TLS handshake (CN node id,
OU role, O cluster). A method either allows anonymous callers (joining with a token, health
checks) or lists the roles that may call it. Certificates of removed nodes and of other
clusters are refused; every refusal is logged with the peer's address.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from svc.tls import subject_field

log = logging.getLogger("svc.auth")

ANONYMOUS = "anonymous"
WORKER, MANAGER, ADMIN = "worker", "manager", "admin"

# Method (or service prefix) -> roles allowed. The most specific entry wins.
POLICY: dict[str, frozenset[str]] = {
    "/svc.v1.NodeCA/IssueCertificate": frozenset({ANONYMOUS, WORKER, MANAGER, ADMIN}),
    "/svc.v1.NodeCA/RenewCertificate": frozenset({WORKER, MANAGER, ADMIN}),
    "/svc.v1.NodeCA/RootInfo": frozenset({MANAGER, ADMIN}),
    "/svc.v1.NodeCA/RotateRoot": frozenset({MANAGER, ADMIN}),
    "/svc.v1.Dispatcher/": frozenset({WORKER, MANAGER}),
    "/svc.v1.Control/": frozenset({MANAGER, ADMIN}),
    "/svc.v1.Membership/": frozenset({MANAGER}),
    "/grpc.health.v1.Health/": frozenset({ANONYMOUS, WORKER, MANAGER, ADMIN}),
}


@dataclass(frozen=True)
class Peer:
    node_id: str
    role: str
    cluster_id: str
    address: str


current_peer: contextvars.ContextVar[Peer] = contextvars.ContextVar("current_peer")


def allowed_roles(method: str) -> frozenset[str]:
    best = ""
    for key in POLICY:
        if method.startswith(key) and len(key) > len(best):
            best = key
    return POLICY.get(best, frozenset())


@functools.lru_cache(maxsize=4096)
def _parse(pem: bytes) -> tuple[str, str, str]:
    cert = x509.load_pem_x509_certificate(pem)
    return (
        subject_field(cert, NameOID.COMMON_NAME),
        subject_field(cert, NameOID.ORGANIZATIONAL_UNIT_NAME),
        subject_field(cert, NameOID.ORGANIZATION_NAME),
    )


def peer_of(context: Any) -> Peer:
    auth = context.auth_context() or {}
    address = context.peer() or "?"
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        return Peer("", ANONYMOUS, "", address)
    node_id, role, cluster = _parse(pems[0])
    return Peer(node_id, role, cluster, address)


class Authorizer(grpc.aio.ServerInterceptor):
    """Checks every call against POLICY before the handler runs."""

    def __init__(
        self,
        cluster_id: Callable[[], str],
        revoked: Callable[[str], bool],
        observer: Callable[[str, str], None] | None = None,
        store_role: Callable[[str], str | None] | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.revoked = revoked
        self.observer = observer
        # A node's role in the store wins over the role its certificate still names: a demoted
        # manager's certificate says "manager" until it is renewed, but it may act only as a worker.
        self.store_role = store_role

    def _observe(self, method: str, context: Any, failed: bool = False) -> None:
        if self.observer is None:
            return
        try:
            code = context.code()
        except Exception:
            code = None
        name = code.name if isinstance(code, grpc.StatusCode) else ("UNKNOWN" if failed else "OK")
        self.observer(method, name)

    def check(self, method: str, context: Any) -> Peer:
        peer = peer_of(context)
        if peer.role == MANAGER and self.store_role is not None and self.store_role(peer.node_id) == WORKER:
            peer = Peer(peer.node_id, WORKER, peer.cluster_id, peer.address)
        roles = allowed_roles(method)
        refusal = ""
        code = grpc.StatusCode.PERMISSION_DENIED
        if peer.role != ANONYMOUS and peer.cluster_id != self.cluster_id():
            refusal, code = "certificate from another cluster", grpc.StatusCode.UNAUTHENTICATED
        elif peer.role != ANONYMOUS and self.revoked(peer.node_id):
            refusal, code = "certificate of a node removed from the cluster", grpc.StatusCode.UNAUTHENTICATED
        elif peer.role not in roles:
            if peer.role == ANONYMOUS:
                refusal, code = "a client certificate is required", grpc.StatusCode.UNAUTHENTICATED
            else:
                refusal = f"role {peer.role} may not call {method.rsplit('/', 1)[-1]}"
        if refusal:
            log.warning("refused %s from %s (%s %s): %s", method, peer.address, peer.role, peer.node_id[:12], refusal)
            raise _Refused(code, refusal)
        return peer

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        check = self.check
        observe = self._observe

        def wrap_unary(fn: Any) -> Any:
            async def call(request: Any, context: Any) -> Any:
                try:
                    current_peer.set(check(method, context))
                except _Refused as exc:
                    observe(method, context, failed=True)
                    await context.abort(exc.code, exc.message)
                try:
                    result = await fn(request, context)
                except BaseException:
                    observe(method, context, failed=True)
                    raise
                observe(method, context)
                return result

            return call

        def wrap_stream(fn: Any) -> Any:
            async def call(request: Any, context: Any) -> Any:
                try:
                    current_peer.set(check(method, context))
                except _Refused as exc:
                    await context.abort(exc.code, exc.message)
                async for item in fn(request, context):
                    yield item

            return call

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap_unary(handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap_stream(handler.unary_stream), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap_unary(handler.stream_unary), handler.request_deserializer, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            wrap_stream(handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
