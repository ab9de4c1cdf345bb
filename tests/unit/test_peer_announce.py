"""A node announces the pulls its new assignments will start (node/engine/registry/inflight.py): a peer
asked for a blob on behalf of an announced image waits for that pull instead of answering 404; an ask for
another image does not; an announcement ends when its pull begins, and expires if the pull never does."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from manager.ca import CertificateAuthority, create_root
from node.agent.worker import pulls_to_come
from node.engine.engine import Engine
from node.engine.images import ImageStore
from node.engine.registry import inflight, pull
from node.engine.registry.peerserver import IMAGE_HEADER, PeerServer
from svc import tls
from svc.registry.settings import RegistrySettings
from svc.v1 import cluster_pb2 as cpb

D = "sha256:" + "d" * 64  # the pinned image both nodes pull
OTHER = "sha256:" + "e" * 64


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(store: ImageStore, data: bytes) -> None:
    fd, scratch = store.scratch_file()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    store.commit_blob(scratch, _digest(data))


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-a"))


# ----- the rule, without I/O -----


def test_an_announced_image_makes_its_blob_asks_wait_and_no_manifest_ask(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, blob = str(tmp_path / "a"), "sha256:" + "1" * 64
    assert not inflight._may_come(root, blob, True, D)
    inflight.announce(root, [D])
    try:
        assert inflight._may_come(root, blob, True, D)  # may be among D's blobs
        assert inflight._may_come(root, blob, True, "")  # an ask naming no image: any pull may bring it
        assert not inflight._may_come(root, blob, True, OTHER)  # asked for another image
        assert not inflight._may_come(root, D, False, D)  # manifests never wait
        assert not inflight._may_come(str(tmp_path / "b"), blob, True, D)  # another store
    finally:
        inflight._announced.clear()


def test_an_announcement_ends_when_its_pull_begins_and_expires_if_it_never_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, blob = str(tmp_path / "a"), "sha256:" + "1" * 64
    inflight.announce(root, [D])
    with inflight.resolving(root, D) as resolved:
        assert inflight._may_come(root, blob, True, D)  # resolving takes over
        with inflight.expected(root, ["sha256:" + "2" * 64]):
            resolved()
            assert not inflight._may_come(root, blob, True, D)  # D's manifest does not name it
            assert inflight._may_come(root, "sha256:" + "2" * 64, True, D)
    assert not inflight._may_come(root, blob, True, D)  # the announcement did not outlive its pull
    inflight.announce(root, [D], ttl=0.2)
    assert inflight._may_come(root, blob, True, D)
    time.sleep(0.25)
    assert not inflight._may_come(root, blob, True, D) and not inflight._may_come(root, blob, True, "")
    assert not inflight._announced  # the expired entry is dropped


def test_pulls_to_come_are_the_pinned_images_of_tasks_not_begun() -> None:
    def task(image: str, state: str = "assigned", desired: str = "running") -> cpb.Task:
        t = cpb.Task(desired_state=desired)
        t.spec.image = image
        t.status.state = state
        return t

    tasks = [
        task(f"reg/web:1@{D}"),
        task(f"reg/api:1@{OTHER}", state="accepted"),
        task("reg/tagged:1"),  # by tag: no peer asks for it
        task(f"reg/old:1@sha256:{'3' * 64}", state="running"),  # begun already
        task(f"reg/gone:1@sha256:{'4' * 64}", desired="shutdown"),
    ]
    assert pulls_to_come(tasks) == {f"reg/web:1@{D}", f"reg/api:1@{OTHER}"}


def test_the_engine_announces_only_the_pinned_images_it_lacks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ImageStore(str(tmp_path / "images"))
    fake = SimpleNamespace(images=store)
    try:
        Engine.announce_pulls(fake, {f"reg/web:1@{D}", "reg/tagged:1"})  # type: ignore[arg-type]
        assert set(inflight._announced) == {inflight._key(store.root, D)}
    finally:
        inflight._announced.clear()


def test_a_pull_names_its_image_to_its_peers(tmp_path, ca) -> None:  # type: ignore[no-untyped-def]
    store = ImageStore(str(tmp_path / "images"))
    ref = pull.refs.parse(f"reg.example/web:1@{D}")
    job = pull._Pull(store, ref, RegistrySettings(), pull.platforms.host_platform(), lambda p: None)
    job.peers = ["10.0.0.2:4245"]
    job.peer_tls = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
    src = job.sources()
    try:
        assert src.peers[0]._http.headers[IMAGE_HEADER] == D
        assert IMAGE_HEADER not in src.upstream[0]._http.headers  # a registry is told nothing of it
    finally:
        src.close()


# ----- against a real peer server -----


@pytest.fixture
def served(tmp_path, ca):  # type: ignore[no-untyped-def]
    store = ImageStore(str(tmp_path / "images"))
    ident = ca.identity("node-a", "worker", 3600)
    server = PeerServer(store, "127.0.0.1:0", lambda: ident)
    server.start()
    yield store, server
    server.stop()
    inflight._announced.clear()


def _get(ca: CertificateAuthority, url: str, image: str) -> httpx.Response:
    ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
    with httpx.Client(verify=ctx, timeout=30) as c:
        return c.get(url, headers={IMAGE_HEADER: image} if image else {})


def test_a_peer_whose_pull_has_not_begun_makes_the_asker_wait(served, ca) -> None:  # type: ignore[no-untyped-def]
    """The rollout's race: node A, the peer named for node B's task, got the same assignment but its worker
    has not started the pull when B asks for a layer. A announced it on the assignment's arrival: B waits."""
    store, server = served
    data = b"a layer of D" * 1000
    digest = _digest(data)
    inflight.announce(store.root, [D])

    def pull_begins() -> None:  # the worker starts the pull, reads D's manifest, downloads the layer
        with inflight.resolving(store.root, D) as resolved:
            time.sleep(0.2)
            with inflight.expected(store.root, [digest]):
                resolved()
                time.sleep(0.2)
                _put(store, data)

    t = threading.Timer(0.3, pull_begins)
    t.start()
    t0 = time.monotonic()
    r = _get(ca, f"https://127.0.0.1:{server.port}/v2/web/blobs/{digest}", D)
    assert r.status_code == 200 and r.content == data and time.monotonic() - t0 >= 0.6
    t.join()


def test_an_ask_for_another_image_is_not_held_by_an_announcement(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    inflight.announce(store.root, [D])
    t0 = time.monotonic()
    r = _get(ca, f"https://127.0.0.1:{server.port}/v2/web/blobs/{_digest(b'x')}", OTHER)
    assert r.status_code == 404 and time.monotonic() - t0 < 1.0


def test_an_announced_pull_that_never_begins_holds_the_asker_only_until_it_expires(served, ca) -> None:  # type: ignore[no-untyped-def]
    store, server = served
    inflight.announce(store.root, [D], ttl=0.5)
    t0 = time.monotonic()
    r = _get(ca, f"https://127.0.0.1:{server.port}/v2/web/blobs/{_digest(b'never')}", D)
    took = time.monotonic() - t0
    assert r.status_code == 404 and 0.45 <= took < 2.0, took


def test_the_worker_announces_an_assignment_s_pulls_before_it_starts_any() -> None:
    import asyncio

    from node.agent.worker import Worker

    class Engine:
        def __init__(self) -> None:
            self.announced: list[set[str]] = []

        def subscribe(self, fn: object) -> None:
            pass

        def announce_pulls(self, refs: set[str]) -> None:
            self.announced.append(refs)

    async def scenario() -> list[set[str]]:
        engine = Engine()
        worker = Worker(engine, "n1", on_status=lambda: None)  # type: ignore[arg-type]
        t = cpb.Task(id="t1", desired_state="running")
        t.spec.image = f"reg/web:1@{D}"
        t.status.state = "assigned"
        worker.set_assignments(True, [t], [])  # no reconcile has run: nothing started yet
        return engine.announced

    assert asyncio.run(scenario()) == [{f"reg/web:1@{D}"}]
