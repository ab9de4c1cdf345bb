"""CA root rotation's pure parts: the leader's decision (manager/carotation.py progress), the cross-signed
transition (manager/ca.py), join tokens during and after a rotation, the store fields; and real mutual TLS
through gRPC (BoringSSL, as the daemons use it) between peers at every stage of a rotation."""

from __future__ import annotations

import socket
from concurrent import futures
from dataclasses import replace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from manager import ca as ca_mod
from manager import carotation
from manager.store import ops
from manager.store.objects import NODE_DOWN, NODE_READY, NODE_UNKNOWN, ClusterObj, NodeObj
from manager.store.state import StoreState
from svc import tls
from svc.errors import Conflict, PermissionDenied


def _cluster() -> ClusterObj:
    cert, key = ca_mod.create_root("c1")
    return ClusterObj(id="c1", ca_cert_pem=cert, ca_key_pem=key, worker_secret="w" * 32, manager_secret="m" * 32)


def _rotating(cluster: ClusterObj) -> ClusterObj:
    return replace(cluster, **carotation.start_changes(cluster, 100.0))


def test_progress_waits_for_every_node_that_is_not_down() -> None:
    c = _cluster()
    assert carotation.progress(c, [NodeObj(id="a")]) == carotation.Progress(rotating=False)
    r = _rotating(c)
    new = tls.ca_digest(r.ca_next_cert_pem)
    old = tls.ca_digest(c.ca_cert_pem)
    nodes = [
        NodeObj(id="m1", role="manager", state=NODE_READY, cert_root=new),
        NodeObj(id="w1", state=NODE_READY, cert_root=old),
        NodeObj(id="w2", state=NODE_UNKNOWN, cert_root=""),  # not reported yet (a new leader): waited for
        NodeObj(id="w3", state=NODE_DOWN, cert_root=old),  # down: not waited for
    ]
    p = carotation.progress(r, nodes)
    assert p.rotating and not p.done and p.target == new and p.old == old
    assert p.renewed == ("m1",) and p.pending == ("w1", "w2") and p.down == ("w3",) and p.counted == 3
    nodes = [replace(n, cert_root=new) if n.id in ("w1", "w2") else n for n in nodes]
    assert carotation.progress(r, nodes).done
    # A manager Raft cannot reach is not waited for either (it renews from its store when it is back).
    m2 = NodeObj(id="m2", role="manager", state=NODE_READY, cert_root=old, raft_addr="10.0.0.2:4243")
    assert carotation.progress(r, [*nodes, m2]).pending == ("m2",)
    p = carotation.progress(r, [*nodes, m2], frozenset({"10.0.0.2:4243"}))
    assert p.done and p.down == ("m2", "w3")
    assert carotation.progress(r, []).done  # nothing to wait for


def test_start_refuses_a_second_rotation_and_finish_makes_the_new_root_the_only_one() -> None:
    c = _cluster()
    r = _rotating(c)
    assert r.ca_rotation_started == 100.0 and r.ca_next_key_pem and r.ca_cross_pem
    with pytest.raises(Conflict, match="already in progress"):
        carotation.start_changes(r, 101.0)
    done = replace(r, **carotation.finish_changes(r))
    assert done.ca_cert_pem == r.ca_next_cert_pem and done.ca_key_pem == r.ca_next_key_pem
    assert not (done.ca_next_cert_pem or done.ca_next_key_pem or done.ca_cross_pem or done.ca_rotation_started)
    assert ca_mod.from_cluster(done).cluster_id == "c1"  # the cluster keeps its id (the roots' O)


def test_authority_signs_with_the_new_root_and_hands_out_the_cross_signed_intermediate() -> None:
    c = _cluster()
    before = ca_mod.from_cluster(c)
    r = _rotating(c)
    during = ca_mod.from_cluster(r)
    after = ca_mod.from_cluster(replace(r, **carotation.finish_changes(r)))
    assert not before.rotating and during.rotating and not after.rotating
    assert tls.split_pems(during.ca_pem) == [c.ca_cert_pem, r.ca_next_cert_pem]  # both roots trusted
    assert tls.split_pems(after.ca_pem) == [r.ca_next_cert_pem]
    ident = during.identity("n1", "worker", 3600)
    chain = tls.split_pems(ident.cert_pem)
    assert len(chain) == 2 and chain[1] == r.ca_cross_pem
    assert tls.issuer_digest(ident) == tls.ca_digest(r.ca_next_cert_pem) == during.root_digest
    old_ident = before.identity("n2", "worker", 3600)
    assert tls.issuer_digest(old_ident) == tls.ca_digest(c.ca_cert_pem)
    # A node that renewed mid-rotation still says the new root once the old one left its bundle.
    assert tls.issuer_digest(tls.Identity(after.ca_pem, ident.cert_pem, b"")) == after.root_digest
    assert tls.issuer_digest(tls.Identity(after.ca_pem, old_ident.cert_pem, b"")) == ""
    assert tls.trust_fingerprint(during.ca_pem) != tls.trust_fingerprint(after.ca_pem)
    assert ident.cluster_id == "c1" and ident.role == "worker" and ident.node_id == "n1"


def test_join_tokens_pin_the_new_root_and_the_old_ones_work_until_the_rotation_is_done() -> None:
    c = _cluster()
    before = ca_mod.from_cluster(c)
    r = _rotating(c)
    during = ca_mod.from_cluster(r)
    after = ca_mod.from_cluster(replace(r, **carotation.finish_changes(r)))
    old_token, new_token = before.token(c.worker_secret), during.token(c.worker_secret)
    assert old_token != new_token and after.token(c.worker_secret) == new_token
    assert tls.parse_token(new_token)[0] == tls.ca_digest(r.ca_next_cert_pem)
    for token in (old_token, new_token):
        assert during.check_token(token, c.worker_secret, c.manager_secret) == "worker"
    assert after.check_token(new_token, c.worker_secret, c.manager_secret) == "worker"
    with pytest.raises(PermissionDenied, match="rotated away"):
        after.check_token(old_token, c.worker_secret, c.manager_secret)


def test_store_carries_a_rotation_and_the_nodes_reported_roots() -> None:
    s = StoreState()
    c = _cluster()
    init = {k: getattr(c, k) for k in ("id", "ca_cert_pem", "ca_key_pem", "worker_secret", "manager_secret")}
    s.apply(ops.cluster_init(init))
    s.apply(ops.node_register(NodeObj(id="n1", cert_root="old")))
    changes = carotation.start_changes(s.cluster, 5.0)  # type: ignore[arg-type]
    s.apply(ops.cluster_update(s.cluster.version, **changes))  # type: ignore[union-attr]
    assert s.cluster is not None and s.cluster.ca_next_cert_pem == changes["ca_next_cert_pem"]
    s.apply(ops.node_register(NodeObj(id="n1")))  # a re-registration that does not say keeps the root
    assert s.nodes["n1"].cert_root == "old"
    s.apply(ops.node_update("n1", 0, cert_root="new"))
    assert s.nodes["n1"].cert_root == "new"
    copy = StoreState()
    copy.load_plain(s.to_plain())  # snapshots and backups keep both
    assert copy.cluster == s.cluster and copy.nodes["n1"].cert_root == "new"
    s.apply(ops.cluster_update(s.cluster.version, **carotation.finish_changes(s.cluster)))
    assert s.cluster.ca_cert_pem == changes["ca_next_cert_pem"] and not s.cluster.ca_next_cert_pem


# ----- real TLS: gRPC between peers at each stage -----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handshake(server: tls.Identity, client: tls.Identity) -> bool:
    """A health check from `client` to a server presenting `server` (mutual TLS, as the daemons do)."""
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), srv)
    creds = grpc.ssl_server_credentials(
        [(server.key_pem, server.cert_pem + server.ca_pem)], root_certificates=server.ca_pem,
        require_client_auth=True,
    )
    addr = f"127.0.0.1:{_free_port()}"
    srv.add_secure_port(addr, creds)
    srv.start()
    channel: Any = tls.secure_channel(addr, client, aio=False)
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return True
    except grpc.RpcError:
        return False
    finally:
        channel.close()
        srv.stop(0)


def test_peers_accept_each_other_at_every_stage_of_a_rotation() -> None:
    c = _cluster()
    r = _rotating(c)
    before, during = ca_mod.from_cluster(c), ca_mod.from_cluster(r)
    after = ca_mod.from_cluster(replace(r, **carotation.finish_changes(r)))
    old_mgr, new_mgr = before.identity("m1", "manager", 3600), during.identity("m1", "manager", 3600)
    old_node, mid_node = before.identity("w1", "worker", 3600), during.identity("w1", "worker", 3600)
    final_mgr = after.identity("m1", "manager", 3600)

    def trusting(ident: tls.Identity, ca_pem: bytes) -> tls.Identity:
        return tls.Identity(ca_pem, ident.cert_pem, ident.key_pem)

    # A node that has not heard of the rotation (trusts only the old root) reaches a renewed manager,
    # through the cross-signed intermediate; and the manager accepts its old certificate.
    assert _handshake(trusting(new_mgr, during.ca_pem), old_node)
    # A renewed node reaches a manager that has not renewed yet but trusts both roots.
    assert _handshake(trusting(old_mgr, during.ca_pem), mid_node)
    # ...and one that still trusts only the old root (the cross-signed intermediate again).
    assert _handshake(old_mgr, mid_node)
    # After: the old root is gone; a certificate from mid-rotation (with its intermediate) still works,
    assert _handshake(final_mgr, mid_node)
    # but one of the old root does not, either way round.
    assert not _handshake(final_mgr, old_node)
    assert not _handshake(trusting(old_mgr, old_mgr.ca_pem), trusting(final_mgr, after.ca_pem))


def test_a_root_from_before_rotation_existed_rotates_too() -> None:
    """Roots made earlier say path length 0 and have no key identifier; BoringSSL (gRPC) does not apply a
    trust anchor's path length, so the cross-signed intermediate below one still works (docs/security.md)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key, key_pem = tls.new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "svc-root-ca"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "c1")]
    )
    now = datetime.datetime.now(datetime.UTC)
    legacy = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_mod._CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    c = ClusterObj(id="c1", ca_cert_pem=legacy.public_bytes(serialization.Encoding.PEM), ca_key_pem=key_pem)
    r = _rotating(c)
    before, during = ca_mod.from_cluster(c), ca_mod.from_cluster(r)
    new_mgr = during.identity("m1", "manager", 3600)
    renewed_mgr = tls.Identity(during.ca_pem, new_mgr.cert_pem, new_mgr.key_pem)
    assert _handshake(renewed_mgr, before.identity("w1", "worker", 60))
    assert _handshake(before.identity("m1", "manager", 60), during.identity("w1", "worker", 60))
