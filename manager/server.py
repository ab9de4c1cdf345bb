"""The manager's gRPC server: every service on two TLS ports, behind one authorizer.

The API port wants a client certificate; the join port (API + 2) serves token joins without
one (Python's gRPC cannot ask for an optional client certificate on one port). The authorizer
lets anonymous callers do nothing but IssueCertificate and health checks, on either port.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from svc import defaults, tls
from svc.errors import Unavailable
from svc.join import join_address
from svc.netaddr import check_bindable
from svc.v1 import ca_pb2_grpc, control_pb2_grpc, dispatcher_pb2_grpc

from .auth import Authorizer
from .caservice import MembershipService, NodeCAService
from .controlapi import ControlService
from .core import Manager
from .dispatcher import Dispatcher
from .imagepin import ImagePinner
from .logbroker import LogBroker


def build(
    manager: Manager, dispatcher: Dispatcher, listen_addr: str, pinner: ImagePinner | None = None
) -> tuple[Any, ControlService]:
    """A gRPC server with every manager service, bound (not started) on the API and join ports; and its
    control API, which the Engine API (manager/engineapi) calls in-process."""

    def observer(method: str, code: str) -> None:
        if manager.rpc_observer is not None:
            manager.rpc_observer(method, code)

    def store_role(node_id: str) -> str | None:
        node = manager.state.nodes.get(node_id)
        return None if node is None else node.role

    def revoked(node_id: str) -> bool:
        cluster = manager.cluster
        return cluster is not None and node_id in cluster.removed_nodes

    join_addr = join_address(listen_addr)
    # Checked first, so a port in use is one clear line (gRPC's own error names no port).
    check_bindable(listen_addr, "API address")
    check_bindable(join_addr, "join address")
    server = grpc.aio.server(
        interceptors=[Authorizer(lambda: manager.cluster_id, revoked, observer, store_role)],
        options=[
            ("grpc.max_receive_message_length", defaults.GRPC_MAX_MESSAGE_BYTES),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.http2.max_ping_strikes", 0),
            # gRPC sets SO_REUSEPORT by default: a second manager on the same port would then
            # bind silently and share its connections.
            ("grpc.so_reuseport", 0),
        ],
    )
    control = ControlService(manager, LogBroker(manager, dispatcher), pinner)
    control_pb2_grpc.add_ControlServicer_to_server(control, server)
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
    ca_pb2_grpc.add_NodeCAServicer_to_server(NodeCAService(manager), server)
    ca_pb2_grpc.add_MembershipServicer_to_server(MembershipService(manager), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for addr, client_cert in ((listen_addr, True), (join_addr, False)):
        try:
            server.add_secure_port(addr, _dynamic_credentials(manager, require_client_cert=client_cert))
        except RuntimeError:
            raise Unavailable(f"cannot listen on {addr}: the address is in use or not on this host") from None
    asyncio.get_running_loop().create_task(health.set("", health_pb2.HealthCheckResponse.SERVING))
    return server, control


def _dynamic_credentials(manager: Manager, require_client_cert: bool) -> Any:
    """Server TLS that picks up this manager's renewed certificate, and a new trust bundle (a CA rotation),
    without a restart; connections already open keep going. The chain sent is the certificate, its
    intermediate (the cross-signed root, during a rotation) and every root trusted, so a joining host
    finds the root its token pins in it."""
    served: dict[str, Any] = {"inputs": None, "pair": None}

    def config(ident: tls.Identity) -> tuple[tuple[bytes, bytes], Any]:
        """(chain sent, roots trusted) and the configuration for `ident`, read once: gRPC asks from its
        own thread while a renewal replaces manager.identity on the loop, and a key must go with its own
        certificate. The chain is made again only when the certificate or a bundle changed."""
        inputs = (ident.cert_pem, ident.ca_pem, _cluster_bundle(manager))
        if inputs != served["inputs"]:
            served["inputs"], served["pair"] = inputs, _served(*inputs)
        chain, roots = served["pair"]
        return (ident.key_pem, chain), grpc.ssl_server_certificate_configuration(
            [(ident.key_pem, chain)], root_certificates=roots
        )

    first, initial = config(manager.identity)
    current = {"pair": first}

    def fetch() -> Any:
        pair, configuration = config(manager.identity)
        if pair == current["pair"]:
            return None
        current["pair"] = pair
        return configuration

    return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=require_client_cert)


def _cluster_bundle(manager: Manager) -> bytes:
    try:
        return manager.ca().ca_pem
    except Unavailable:
        return b""  # not received the CA yet (a manager joining)


def _served(cert_pem: bytes, own_bundle: bytes, cluster_bundle: bytes) -> tuple[bytes, bytes]:
    """The roots are this manager's bundle and the cluster's as this replica knows it now: a rotation
    puts the new root in from the moment its record is applied here, not from this manager's renewal a
    moment later, so a host joining at once with the token printed then (which pins the new root)
    finds that root in the chain."""
    roots = tls.split_pems(own_bundle)
    roots += [p for p in tls.split_pems(cluster_bundle) if p not in roots]
    bundle = b"".join(roots)
    return cert_pem + bundle, bundle
