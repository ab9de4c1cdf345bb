"""The CLI's two transports to a manager, one suite: svc.grpcwire and a grpcio channel must answer
alike (svc/control.py chooses by SVC_CLI_TRANSPORT). The server is a real grpcio server with the
cluster's mutual TLS, serving the Control service's generated interface."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from manager.ca import CertificateAuthority, create_root
from svc import defaults, tls
from svc.client import TargetUnreachable
from svc.control import ControlClient
from svc.errors import DeadlineExceeded, NotFound, SvcError, Unauthenticated
from svc.v1 import cluster_pb2, control_pb2, control_pb2_grpc

BIG = 3 << 20  # beyond every default window and frame size


class Servicer(control_pb2_grpc.ControlServicer):
    def GetService(self, request: Any, context: Any) -> Any:
        if request.service == "nosuch":
            context.abort(grpc.StatusCode.NOT_FOUND, "nosuch: no such service (100% sure, ✓)")
        if request.service == "slow":
            time.sleep(1.5)
        if request.service == "big":
            return cluster_pb2.Service(id="b" * BIG)
        return cluster_pb2.Service(id=request.service)

    def CreateSecret(self, request: Any, context: Any) -> Any:
        return cluster_pb2.Secret(id=str(len(request.spec.data)))


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-wire"))


def serve(ca: CertificateAuthority, port: int = 0, max_receive: int = 64 << 20) -> tuple[Any, int]:
    ident = ca.identity("manager-1", "manager", 3600)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", max_receive), ("grpc.max_send_message_length", 64 << 20)],
    )
    control_pb2_grpc.add_ControlServicer_to_server(Servicer(), server)
    creds = grpc.ssl_server_credentials(
        [(ident.key_pem, ident.cert_pem)], root_certificates=ident.ca_pem, require_client_auth=True
    )
    port = server.add_secure_port(f"127.0.0.1:{port}", creds)
    server.start()
    return server, port


@pytest.fixture(scope="module")
def manager(ca: CertificateAuthority) -> Iterator[str]:
    server, port = serve(ca)
    yield f"127.0.0.1:{port}"
    server.stop(None)


def bundle(tmp_path: Any, ident: tls.Identity) -> str:
    d = str(tmp_path / "bundle")
    ident.save(d)
    return d


@pytest.fixture(params=["wire", "grpcio"])
def transport(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SVC_CLI_TRANSPORT", request.param)
    return str(request.param)


@pytest.fixture
def admin(tmp_path: Any, ca: CertificateAuthority) -> str:
    return bundle(tmp_path, ca.identity("admin-1", "admin", 3600))


def test_a_call_and_its_answer(transport: str, manager: str, admin: str) -> None:
    c = ControlClient(manager, admin)
    assert c.GetService(control_pb2.ServiceRef(service="web")).id == "web"
    assert c.GetService(control_pb2.ServiceRef(service="again")).id == "again"  # the same connection
    c.close()


def test_large_answer_and_large_request(transport: str, manager: str, admin: str) -> None:
    c = ControlClient(manager, admin)
    assert len(c.GetService(control_pb2.ServiceRef(service="big")).id) == BIG
    assert c.CreateSecret(control_pb2.CreateSecretRequest(spec=cluster_pb2.SecretSpec(data=b"x" * BIG))).id == str(BIG)
    c.close()


def test_a_servers_status_comes_through_in_its_words(transport: str, manager: str, admin: str) -> None:
    c = ControlClient(manager, admin)
    with pytest.raises(NotFound) as err:
        c.GetService(control_pb2.ServiceRef(service="nosuch"))
    assert str(err.value) == "nosuch: no such service (100% sure, ✓)"
    assert c.GetService(control_pb2.ServiceRef(service="after")).id == "after"  # the connection goes on


def test_a_manager_restarted_between_two_calls(transport: str, ca: CertificateAuthority, admin: str) -> None:
    """The connection kept from the first call is gone: the second goes out on a new one, as grpcio's
    channel reconnects, and is not reported as lost during the call."""
    server, port = serve(ca)
    c = ControlClient(f"127.0.0.1:{port}", admin)
    try:
        assert c.GetService(control_pb2.ServiceRef(service="one")).id == "one"
        server.stop(None).wait()
        server, _ = serve(ca, port)
        deadline = time.monotonic() + 10
        while True:  # grpcio may need a moment to see its channel's connection go
            try:
                assert c.GetService(control_pb2.ServiceRef(service="two"), timeout=5).id == "two"
                break
            except TargetUnreachable as exc:
                assert transport == "grpcio" and "during the call" not in str(exc), exc
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.stop(None)


def test_a_request_the_server_refuses_before_reading_it_all(
    transport: str, ca: CertificateAuthority, admin: str
) -> None:
    """The server answers (too large) and resets the stream while the request is still going out: its
    status comes through, not a lost connection."""
    server, port = serve(ca, max_receive=1 << 20)
    try:
        c = ControlClient(f"127.0.0.1:{port}", admin)
        with pytest.raises(SvcError, match="larger than max"):
            c.CreateSecret(control_pb2.CreateSecretRequest(spec=cluster_pb2.SecretSpec(data=b"x" * (30 << 20))))
        assert c.GetService(control_pb2.ServiceRef(service="after")).id == "after"
    finally:
        server.stop(None)


def test_deadline(transport: str, manager: str, admin: str) -> None:
    c = ControlClient(manager, admin)
    with pytest.raises(DeadlineExceeded):
        c.GetService(control_pb2.ServiceRef(service="slow"), timeout=0.3)


def test_nobody_listening(transport: str, admin: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = ControlClient(f"127.0.0.1:{port}", admin)
    with pytest.raises(TargetUnreachable, match=f"cannot reach 127.0.0.1:{port}: is the manager running"):
        c.GetService(control_pb2.ServiceRef(service="web"), timeout=5)


def test_a_credential_of_another_cluster(transport: str, manager: str, tmp_path: Any) -> None:
    other = CertificateAuthority(*create_root("cluster-other")).identity("admin-2", "admin", 3600)
    c = ControlClient(manager, bundle(tmp_path, other))
    with pytest.raises(Unauthenticated, match=r"TLS with .* failed"):
        c.GetService(control_pb2.ServiceRef(service="web"), timeout=5)


def test_a_server_without_the_managers_name(transport: str, ca: CertificateAuthority, admin: str) -> None:
    """A worker's certificate (no svc-manager name) on the port: the client refuses it."""
    ident = ca.identity("node-1", "worker", 3600)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    control_pb2_grpc.add_ControlServicer_to_server(Servicer(), server)
    creds = grpc.ssl_server_credentials([(ident.key_pem, ident.cert_pem)], root_certificates=ident.ca_pem)
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        with pytest.raises(Unauthenticated, match=r"TLS with .* failed"):
            ControlClient(f"127.0.0.1:{port}", admin).GetService(control_pb2.ServiceRef(service="web"), timeout=5)
    finally:
        server.stop(None)


def test_a_connection_lost_during_the_call(ca: CertificateAuthority, admin: str, monkeypatch: Any) -> None:
    """The wire transport alone: a TLS server that reads the request and hangs up says 'during the call'."""
    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    ident = ca.identity("manager-2", "manager", 3600)
    ctx = tls.ssl_context(ident, server=True)
    ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        raw, _ = listener.accept()
        with ctx.wrap_socket(raw, server_side=True) as conn:
            conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))  # its SETTINGS: the session is up
            conn.recv(65536)
            time.sleep(0.2)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(TargetUnreachable, match=r"lost the connection .* during the call"):
            ControlClient(f"127.0.0.1:{port}", admin).GetService(control_pb2.ServiceRef(service="web"), timeout=5)
    finally:
        t.join(5)
        listener.close()


def test_no_grpcio_import_for_a_unary_call(manager: str, admin: str) -> None:
    """The point of the wire transport, checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys; from svc.control import ControlClient; from svc.v1 import control_pb2; "
        f"c = ControlClient({manager!r}, {admin!r}); c.GetService(control_pb2.ServiceRef(service='w')); "
        "print('grpc' in sys.modules)"
    )
    env = {**os.environ, "SVC_CLI_TRANSPORT": "wire"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_alpn_is_required(ca: CertificateAuthority, admin: str, monkeypatch: Any) -> None:
    """A TLS server that does not speak HTTP/2: one clear line, nothing sent."""
    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    ident = ca.identity("manager-3", "manager", 3600)
    ctx = tls.ssl_context(ident, server=True)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        raw, _ = listener.accept()
        try:
            with ctx.wrap_socket(raw, server_side=True) as conn:
                conn.recv(1)
        except (OSError, ssl.SSLError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(Unauthenticated, match=r"TLS with .* failed"):
            ControlClient(f"127.0.0.1:{port}", admin).GetService(control_pb2.ServiceRef(service="web"), timeout=5)
    finally:
        t.join(5)
        listener.close()


def test_calls_from_threads_take_turns(manager: str, admin: str, monkeypatch: Any) -> None:
    """One client shared by threads (a benchmark's writers): each call gets its own answer."""
    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    c = ControlClient(manager, admin)
    got: dict[int, str] = {}

    def call(i: int) -> None:
        got[i] = c.GetService(control_pb2.ServiceRef(service=f"s{i}")).id

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == {i: f"s{i}" for i in range(16)}


def _silent_h2_server(ca: CertificateAuthority, tls_too: bool = True) -> tuple[socket.socket, threading.Thread]:
    """A manager that takes the connection (and, with tls_too, sends its SETTINGS) and then says nothing."""
    ident = ca.identity("manager-4", "manager", 3600)
    ctx = tls.ssl_context(ident, server=True)
    ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        raw, _ = listener.accept()
        try:
            if tls_too:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
                    time.sleep(3)
            else:
                time.sleep(3)
        except OSError:
            pass
        finally:
            raw.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return listener, t


def test_a_manager_gone_silent_is_found_by_keepalive(ca: CertificateAuthority, admin: str, monkeypatch: Any) -> None:
    """No answer and no close (a power cut): the ping goes unanswered, and the call is broken well
    before its deadline, as grpcio's keepalive has it."""
    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    monkeypatch.setattr(defaults, "GRPC_KEEPALIVE_SECONDS", 0.3)
    monkeypatch.setattr(defaults, "GRPC_KEEPALIVE_TIMEOUT_SECONDS", 0.3)
    listener, t = _silent_h2_server(ca)
    try:
        start = time.monotonic()
        with pytest.raises(TargetUnreachable, match="during the call"):
            ControlClient(f"127.0.0.1:{listener.getsockname()[1]}", admin).GetService(
                control_pb2.ServiceRef(service="web"), timeout=30
            )
        assert time.monotonic() - start < 20  # (the deadline was 30 s: it was keepalive, not the deadline)
    finally:
        t.join(5)
        listener.close()


def test_a_handshake_that_never_ends_is_not_sent(ca: CertificateAuthority, admin: str, monkeypatch: Any) -> None:
    """TCP taken, TLS never answered: nothing can have been done, so it reads as unreachable."""
    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    listener, t = _silent_h2_server(ca, tls_too=False)
    try:
        with pytest.raises(TargetUnreachable, match="cannot reach"):
            ControlClient(f"127.0.0.1:{listener.getsockname()[1]}", admin).GetService(
                control_pb2.ServiceRef(service="web"), timeout=1
            )
    finally:
        t.join(5)
        listener.close()


def test_the_receive_window_is_topped_up(manager: str, admin: str, monkeypatch: Any) -> None:
    """Many large answers on one connection: the window is opened again as they are read."""
    from svc.grpcwire import unary

    monkeypatch.setenv("SVC_CLI_TRANSPORT", "wire")
    monkeypatch.setattr(unary, "_TOP_UP", 1 << 20)
    c = ControlClient(manager, admin)
    for _ in range(4):
        assert len(c.GetService(control_pb2.ServiceRef(service="big")).id) == BIG
