"""Pinning the CA a join token names (svc.tls.fetch_ca), against a real TLS server on loopback.

The case that raced: a token printed just after a CA rotation started pins the new root, which the
manager trusts at once (manager/server.py sends the cluster's bundle) but signs its own certificate
with only at its next upkeep round."""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from manager.ca import CertificateAuthority, create_root, cross_sign
from svc import tls
from svc.errors import Unauthenticated, Unavailable


class _Server:
    """Serves one TLS handshake at a time with whichever (key, chain) `use` set last."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.ctx: ssl.SSLContext | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def use(self, key_pem: bytes, chain_pem: bytes) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as d:
            cert, key = os.path.join(d, "chain.pem"), os.path.join(d, "key.pem")
            with open(cert, "wb") as f:
                f.write(chain_pem)
            with open(key, "wb") as f:
                f.write(key_pem)
            ctx.load_cert_chain(cert, key)
        self.ctx = ctx

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                assert self.ctx is not None
                with self.ctx.wrap_socket(raw, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                raw.close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.stop.set()
        s.thread.join(timeout=5)
        s.sock.close()


def _rotation() -> tuple[CertificateAuthority, CertificateAuthority]:
    old_pem, old_key = create_root("cluster-a")
    new_pem, new_key = create_root("cluster-a", rotated=True)
    return CertificateAuthority(old_pem, old_key), CertificateAuthority(
        old_pem, old_key, new_pem, new_key, cross_sign(new_pem, old_pem, old_key)
    )


def test_a_token_for_the_new_root_waits_for_the_managers_renewal(server: _Server) -> None:
    old, rotating = _rotation()
    before = old.identity("m1", "manager", 3600)
    server.use(before.key_pem, before.cert_pem + rotating.ca_pem)  # trusts the new root, not signed by it yet
    after = rotating.identity("m1", "manager", 3600)
    threading.Timer(0.6, server.use, (after.key_pem, after.cert_pem + rotating.ca_pem)).start()
    t0 = time.monotonic()
    assert tls.fetch_ca(server.addr, rotating.root_digest, timeout=10) == rotating.root_pem
    assert time.monotonic() - t0 < 10  # (it returned once the leaf was from the pinned root, not at the deadline)


def test_a_manager_that_never_renews_is_named_in_one_line(server: _Server) -> None:
    old, rotating = _rotation()
    before = old.identity("m1", "manager", 3600)
    server.use(before.key_pem, before.cert_pem + rotating.ca_pem)
    with pytest.raises(Unavailable, match="does not serve a certificate from it yet"):
        tls.fetch_ca(server.addr, rotating.root_digest, timeout=0.5)


def test_the_old_root_still_pins_during_the_rotation_and_a_foreign_one_never(server: _Server) -> None:
    old, rotating = _rotation()
    after = rotating.identity("m1", "manager", 3600)  # its leaf: from the new root, with the cross-signed one
    server.use(after.key_pem, after.cert_pem + rotating.ca_pem)
    assert tls.fetch_ca(server.addr, rotating.root_digest, timeout=1) == rotating.root_pem
    assert tls.fetch_ca(server.addr, old.root_digest, timeout=1) == old.root_pem  # through the cross-signed root
    other = CertificateAuthority(*create_root("cluster-b"))
    with pytest.raises(Unauthenticated, match="does not present the CA named in the join token"):
        tls.fetch_ca(server.addr, other.root_digest, timeout=1)
