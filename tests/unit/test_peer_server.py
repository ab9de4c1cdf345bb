"""The node's peer server and the pull's peer sources (node/engine/registry/peerserver.py, sources.py):
by digest only, to cluster certificates only, and a lying peer is passed over for the next source."""

from __future__ import annotations

import hashlib
import io
import json
import os
import ssl
import threading
import time
from typing import Any

import httpx
import pytest

from manager.ca import CertificateAuthority, create_root
from node.engine.images import ImageStore
from node.engine.registry import inflight
from node.engine.registry.peerserver import PeerServer
from node.engine.registry.sources import Sources
from svc import tls
from svc.errors import Unavailable
from svc.registry.client import Endpoint

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [],
    }
).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(store: ImageStore, data: bytes) -> str:
    fd, scratch = store.scratch_file()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    digest = _digest(data)
    store.commit_blob(scratch, digest)
    return digest


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-a"))


@pytest.fixture
def served(tmp_path, ca):  # type: ignore[no-untyped-def]
    store = ImageStore(str(tmp_path / "images"))
    ident = ca.identity("node-a", "worker", 3600)
    server = PeerServer(store, "127.0.0.1:0", lambda: ident)
    server.start()
    yield store, server
    server.stop()


def _client(identity: tls.Identity | None, ca_pem: bytes) -> httpx.Client:
    if identity is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(cadata=ca_pem.decode())
    else:
        ctx = tls.ssl_context(identity, server=False)
    return httpx.Client(verify=ctx, timeout=5)


def test_a_node_gets_blobs_and_manifests_by_digest(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    blob = os.urandom(3 << 20)
    bd, md = _put(store, blob), _put(store, MANIFEST)
    base = f"https://127.0.0.1:{server.port}"
    with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c:
        r = c.get(f"{base}/v2/any/name/blobs/{bd}")
        assert r.status_code == 200 and r.content == blob and r.headers["docker-content-digest"] == bd
        h = c.head(f"{base}/v2/web/blobs/{bd}")
        assert h.status_code == 200 and int(h.headers["content-length"]) == len(blob) and not h.content
        m = c.get(f"{base}/v2/web/manifests/{md}")
        assert m.status_code == 200 and m.content == MANIFEST
        assert m.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
        assert c.get(f"{base}/v2/web/manifests/{bd}").status_code == 404  # a layer is no manifest
        assert c.get(f"{base}/v2/web/blobs/sha256:{'1' * 64}").status_code == 404
        tag = c.get(f"{base}/v2/web/manifests/latest")
        assert tag.status_code == 400 and "digest only" in tag.text
        assert c.get(f"{base}/v2/web/tags/list").status_code == 404
        assert c.delete(f"{base}/v2/web/manifests/{md}").status_code == 405  # read-only
    with _client(ca.identity("mgr-1", "manager", 3600), ca.ca_pem) as c:
        assert c.get(f"{base}/v2/web/blobs/{bd}").status_code == 200


def test_no_cluster_certificate_no_answer(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    bd = _put(store, b"secret layer")
    url = f"https://127.0.0.1:{server.port}/v2/web/blobs/{bd}"
    with _client(None, ca.ca_pem) as c, pytest.raises(httpx.HTTPError):
        c.get(url)  # no client certificate: the handshake fails
    other = CertificateAuthority(*create_root("cluster-b"))
    with _client(other.identity("node-x", "worker", 3600), ca.ca_pem) as c, pytest.raises(httpx.HTTPError):
        c.get(url)  # another cluster's certificate
    with _client(ca.identity("admin-1", "admin", 3600), ca.ca_pem) as c:
        assert c.get(url).status_code == 403  # a CLI's certificate is not a node's


def test_a_blob_being_pulled_is_waited_for(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    data = b"arriving soon" * 1000
    digest = _digest(data)
    with inflight.expected(store.root, [digest]):
        threading.Timer(0.3, _put, (store, data)).start()
        with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c:
            t0 = time.monotonic()
            r = c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}")
            assert r.status_code == 200 and r.content == data and time.monotonic() - t0 >= 0.25


def test_a_blob_asked_while_a_pull_here_resolves_its_manifest_is_waited_for(served, ca) -> None:  # type: ignore[no-untyped-def]
    """A rollout: the peer named for a task started the same pull a moment before and does not know the
    layers yet (it is fetching the manifest); the asker waits instead of going to the registry."""
    store, server = served
    data = b"a layer of the image both pull" * 1000
    digest = _digest(data)
    with inflight.resolving(store.root) as resolved:

        def manifest_known() -> None:
            with inflight.expected(store.root, [digest]):
                resolved()
                time.sleep(0.2)
                _put(store, data)

        t = threading.Timer(0.3, manifest_known)
        t.start()
        with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c:
            r = c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}")
        assert r.status_code == 200 and r.content == data
    t.join()


def test_what_a_resolving_pull_does_not_come_to_expect_is_refused(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    digest = _digest(b"some other image's layer")
    resolving = threading.Event()
    with inflight.resolving(store.root) as resolved:
        resolving.set()
        stop = threading.Timer(3.0, lambda: (resolving.clear(), resolved()))
        stop.start()
        with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c:
            # A manifest never waits on a resolving pull (two nodes resolving from each other would
            # wait out each other's timeouts): refused while this one still resolves.
            r = c.get(f"https://127.0.0.1:{server.port}/v2/web/manifests/{digest}")
            assert r.status_code == 404 and resolving.is_set()
            # A blob waits until the pull knows its blobs, and this is not one of them: refused then.
            r = c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}")
            assert r.status_code == 404 and not resolving.is_set()
    stop.join()


def _download_slowly(store: ImageStore, data: bytes, fail_after: int = -1) -> threading.Thread:
    """A pull's download as pull._download does it: a scratch file registered as growing, written in
    pieces, then renamed into place (or, failing after `fail_after` bytes, removed)."""
    digest = _digest(data)
    fd, scratch = store.scratch_file()
    started = threading.Event()

    def write() -> None:
        with inflight.growing(store.root, digest, scratch, len(data)):
            started.set()
            with os.fdopen(fd, "wb", buffering=0) as f:
                for i in range(0, len(data), 50_000):
                    if 0 <= fail_after <= i:
                        os.unlink(scratch)
                        return
                    f.write(data[i : i + 50_000])
                    time.sleep(0.02)
            store.commit_blob(scratch, digest)

    t = threading.Thread(target=write)
    t.start()
    started.wait()
    return t


def test_a_blob_still_downloading_is_passed_on_as_it_arrives(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    data = os.urandom(1_000_000)
    t = _download_slowly(store, data)
    with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c:
        r = c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{_digest(data)}")
    t.join()
    assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
    assert r.content == data
    assert server.served_bytes == len(data)


def test_a_download_that_fails_ends_the_answer_short(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    data = os.urandom(1_000_000)
    t = _download_slowly(store, data, fail_after=300_000)
    with _client(ca.identity("node-b", "worker", 3600), ca.ca_pem) as c, pytest.raises(httpx.HTTPError):
        c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{_digest(data)}")  # fewer bytes than announced
    t.join()
    assert not store.has_blob(_digest(data))


def test_a_download_with_no_bytes_yet_is_waited_for_not_passed_on(served, ca, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two tasks of one image on each of two nodes: each node's download may be waiting on the other.
    An empty download is waited for like an expected blob and refused at the deadline, never answered
    200 and then followed until both askers' read timeouts."""
    from svc import defaults

    monkeypatch.setattr(defaults, "PEER_WAIT_SECONDS", 0.5)
    store, server = served
    digest = _digest(b"never comes")
    fd, scratch = store.scratch_file()
    os.close(fd)
    with inflight.growing(store.root, digest, scratch, 1000), _client(ca.identity("n", "worker", 3600), ca.ca_pem) as c:
        r = c.get(f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}")
    assert r.status_code == 404
    os.unlink(scratch)


def test_a_stalled_download_ends_the_answer_short(served, ca, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from node.engine.registry import peerserver

    monkeypatch.setattr(peerserver, "_STALL_SECONDS", 0.5)
    store, server = served
    digest = _digest(b"stalls")
    fd, scratch = store.scratch_file()
    with os.fdopen(fd, "wb") as f:
        f.write(b"x" * 1000)
    ident = ca.identity("node-b", "worker", 3600)
    url = f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}"
    with (
        inflight.growing(store.root, digest, scratch, 100_000),
        _client(ident, ca.ca_pem) as c,
        pytest.raises(httpx.HTTPError),  # 1000 of 100 000 bytes, then nothing: short
    ):
        c.get(url)
    os.unlink(scratch)


def test_a_lying_peer_is_skipped_for_the_next(tmp_path, ca) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(100_000)
    digest = _digest(data)
    liar = ImageStore(str(tmp_path / "liar"))
    with open(liar.blob_path(digest), "wb") as f:  # the wrong bytes under the right name
        f.write(os.urandom(len(data)))
    honest = ImageStore(str(tmp_path / "honest"))
    _put(honest, data)
    ident = ca.identity("n", "worker", 3600)
    servers = [PeerServer(s, "127.0.0.1:0", lambda: ident) for s in (liar, honest)]
    for s in servers:
        s.start()
    try:
        ctx = tls.ssl_context(ca.identity("me", "worker", 3600), server=False)
        peers = [Endpoint(f"https://127.0.0.1:{s.port}", f"127.0.0.1:{s.port}", verify=ctx) for s in servers]
        src = Sources(peers, [Endpoint("http://127.0.0.1:9", "127.0.0.1:9")])
        out = io.BytesIO()
        src.blob("web", digest, len(data), out)
        assert out.getvalue() == data
        assert len(src.peers) == 1 and src.peers[0] is peers[1]  # the liar is not asked again
        with pytest.raises(Unavailable):  # no peer has it, and the registry is down
            src.manifest("web", "sha256:" + "2" * 64)
        src.close()
    finally:
        for s in servers:
            s.stop()


def test_one_download_per_blob_digest_on_a_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.registry.pull import _Pull
    from svc import registryref
    from svc.registry import platforms
    from svc.registry.settings import RegistrySettings

    store = ImageStore(str(tmp_path / "images"))
    data = os.urandom(50_000)
    digest = _digest(data)
    calls = []

    class Slow:
        def blob(self, repo: str, d: str, size: int, out: Any, progress: Any = None) -> None:
            calls.append(d)
            time.sleep(0.3)
            out.write(data)

    here = platforms.host_platform()
    jobs = [
        _Pull(store, registryref.parse(f"reg.example/app{i}@{digest}"), RegistrySettings(), here, print)
        for i in range(3)
    ]
    threads = [threading.Thread(target=j._fetch, args=(Slow(), digest, len(data))) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [digest] and store.has_blob(digest)  # two pulls waited for the first one's download
