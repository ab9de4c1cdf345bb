"""A peer whose cut-through answer ends short is asked once more for the rest (node/engine/registry/sources.py,
peerserver.py, svc/registry/client.Endpoint.blob's `offset`): `Range: bytes=N-` served from a stored blob and
from one still downloading (a retry writing it again from 0 is followed until it passes N); the bytes the
asker has are kept and hashed with the rest; a second short end drops the peer for the next source, from 0.
Real peer servers over the cluster's mutual TLS; each body read through h11 and read off the socket (body.py)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time

import httpx
import pytest

from manager.ca import CertificateAuthority, create_root
from node.engine.images import ImageStore
from node.engine.registry import inflight, peerserver
from node.engine.registry.peerserver import PeerServer
from node.engine.registry.sources import Sources
from svc import tls
from svc.registry import body
from svc.registry.client import Endpoint


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(store: ImageStore, data: bytes) -> None:
    fd, scratch = store.scratch_file()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    store.commit_blob(scratch, _digest(data))


@pytest.fixture(autouse=True, params=["through-h11", "off-the-socket"])
def body_reads(request, monkeypatch):  # type: ignore[no-untyped-def]
    """Each test twice: every body through h11, and every body of 16 KiB or more read off the socket."""
    monkeypatch.setattr(body, "DIRECT_FROM", 1 << 14 if request.param == "off-the-socket" else 1 << 62)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-a"))


def _serve(tmp_path, ca, name: str):  # type: ignore[no-untyped-def]
    store = ImageStore(str(tmp_path / name))
    ident = ca.identity(name, "worker", 3600)
    server = PeerServer(store, "127.0.0.1:0", lambda: ident)
    server.start()
    return store, server


@pytest.fixture
def peers(tmp_path, ca, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(peerserver, "_STALL_SECONDS", 0.5)  # the stall bound, short for the test
    a, b = _serve(tmp_path, ca, "node-a"), _serve(tmp_path, ca, "node-c")
    yield a, b
    a[1].stop()
    b[1].stop()


def _endpoint(ca: CertificateAuthority, server: PeerServer) -> Endpoint:
    ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
    return Endpoint(f"https://127.0.0.1:{server.port}", f"127.0.0.1:{server.port}", timeout=10, verify=ctx)


def test_a_range_is_served_from_a_stored_blob(peers, ca) -> None:  # type: ignore[no-untyped-def]
    (store, server), _ = peers
    data = os.urandom(200_000)
    _put(store, data)
    ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
    url = f"https://127.0.0.1:{server.port}/v2/web/blobs/{_digest(data)}"
    with httpx.Client(verify=ctx, timeout=10) as c:
        r = c.get(url, headers={"Range": "bytes=150000-"})
        assert r.status_code == 206 and r.content == data[150_000:]
        assert r.headers["content-range"] == f"bytes 150000-199999/{len(data)}"
        assert c.get(url, headers={"Range": "bytes=200000-"}).status_code == 416
        assert c.get(url, headers={"Range": "bytes=0-99"}).status_code == 200  # a form not served: the whole
    out = io.BytesIO(data[:150_000])
    out.seek(150_000)
    with _endpoint(ca, server) as ep:
        ep.blob("web", _digest(data), len(data), out, offset=150_000)  # the digest covers both parts
    assert out.getvalue() == data


def test_an_answer_that_ends_short_is_resumed_from_the_same_peer(peers, ca) -> None:  # type: ignore[no-untyped-def]
    """Node A passes on its own download; it fails a third of the way and A's pull fetches it again from its
    next source, writing the scratch file from 0. The asker's answer ends short at the stall bound; asked
    again from where it ended, A follows its new download past that point: no byte from anyone else."""
    (store, server), (_, other) = peers
    data = os.urandom(900_000)
    digest = _digest(data)
    fd, scratch = store.scratch_file()
    first_part = threading.Event()

    def download() -> None:
        with inflight.expected(store.root, [digest]), inflight.growing(store.root, digest, scratch, len(data)):
            with os.fdopen(fd, "wb", buffering=0) as f:
                f.write(data[:300_000])
                first_part.set()
                time.sleep(0.3)
                f.seek(0)
                f.truncate()  # its source failed: the retry starts over (sources.Sources.blob's reset)
                time.sleep(0.8)  # the asker's answer stalls: ended short
                for i in range(0, len(data), 100_000):
                    f.write(data[i : i + 100_000])
                    time.sleep(0.02)
            store.commit_blob(scratch, digest)

    t = threading.Thread(target=download)
    t.start()
    first_part.wait()
    peer, upstream = _endpoint(ca, server), _endpoint(ca, other)  # `other` lacks it: a 404 if ever asked
    src = Sources([peer], [upstream])
    out = io.BytesIO()
    try:
        src.blob("web", digest, len(data), out)
    finally:
        src.close()
        t.join()
    assert out.getvalue() == data
    assert src.bytes_from == {peer.host: len(data)} and src.peers == [peer]
    assert server.served_bytes == len(data)  # the first part once, then the rest


def test_a_second_short_end_drops_the_peer_for_the_next_source_from_byte_0(peers, ca) -> None:  # type: ignore[no-untyped-def]
    (store, server), (holder, other) = peers
    data = os.urandom(600_000)
    digest = _digest(data)
    _put(holder, data)  # the next source holds it
    fd, scratch = store.scratch_file()
    first_part = threading.Event()

    def failing_download() -> None:  # A's pull fails altogether: nothing of it stays, nothing expected
        with inflight.expected(store.root, [digest]), inflight.growing(store.root, digest, scratch, len(data)):
            with os.fdopen(fd, "wb", buffering=0) as f:
                f.write(data[:200_000])
                first_part.set()
                time.sleep(0.3)
            os.unlink(scratch)

    t = threading.Thread(target=failing_download)
    t.start()
    first_part.wait()
    peer, upstream = _endpoint(ca, server), _endpoint(ca, other)
    src = Sources([peer], [upstream])
    out = io.BytesIO()
    try:
        src.blob("web", digest, len(data), out)
    finally:
        src.close()
        t.join()
    assert out.getvalue() == data
    assert src.bytes_from == {upstream.host: len(data)} and src.peers == []
