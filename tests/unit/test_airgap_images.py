"""Air-gapped clusters (issue #13): an image imported on one node only runs on every node.

The importing node knows its image as `NAME@<stored manifest digest>` and reports `NAME:TAG@…`
(node/engine/heldrefs.py); the leader pins a service to it when not every node holds the tag
(manager/imagepin.held_digest); another node's store then pulls it from the first one's real peer
server by that digest, with no registry anywhere.
"""

from __future__ import annotations

import os

import pytest
from imagebuild import Entry, ImageSpec, write_docker_save, write_oci_layout

from manager.ca import CertificateAuthority, create_root
from manager.imagepin import Holding, ImagePinner, held_digest
from node.engine.heldrefs import held_refs
from node.engine.images import ImageStore
from node.engine.registry import pull
from node.engine.registry.peerserver import PeerServer
from svc import tls
from svc.registry.settings import RegistrySettings

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_a_node_reports_each_tag_with_the_digest_it_serves() -> None:
    refs = held_refs("sha256:" + "9" * 64, ["app:1", "127.0.0.1:5000/web:2"], [f"app@{D1}", f"other@{D2}"])
    assert f"app:1@{D1}" in refs and f"app@{D1}" in refs and "app:1" in refs
    assert not any(r.startswith("127.0.0.1:5000/web:2@") for r in refs)  # no digest for that repository


def test_the_leader_pins_to_a_holder_only_when_some_node_lacks_the_tag() -> None:
    holder = Holding(frozenset(["app:1", f"app@{D1}", f"app:1@{D1}"]))
    bare = Holding(frozenset())
    assert held_digest("app:1", [holder, bare]) == held_digest("docker.io/library/app:1", [holder, bare])
    pinned = held_digest("app:1", [holder, bare])
    assert pinned is not None and pinned.image == f"app:1@{D1}" and not pinned.warning
    assert held_digest("app:1", [holder, holder]) is None  # every node runs its own copy, as before
    assert held_digest("app:1", [holder, Holding(frozenset(), schedulable=False)]) is None
    assert held_digest("app:2", [holder, bare]) is None  # nobody holds it: the registry's business
    assert held_digest(f"app:1@{D2}", [holder, bare]) is None  # pinned already
    assert held_digest("app:1", [Holding(frozenset(["app:1"])), bare]) is None  # a node that reports no digest


def test_holders_that_disagree_give_the_most_held_digest_and_a_warning() -> None:
    one = Holding(frozenset([f"app:1@{D2}", "app:1"]))
    two = Holding(frozenset([f"app:1@{D1}", "app:1"]))
    pinned = held_digest("app:1", [one, two, two, Holding(frozenset())])
    assert pinned is not None and pinned.image == f"app:1@{D1}"
    assert "2 different images as app:1" in pinned.warning and "held by 2 of 3" in pinned.warning


def test_a_held_image_is_pinned_without_asking_any_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    # the registry named does not exist: a lookup would fail with a warning
    holder = Holding(frozenset([f"127.0.0.1:9/app:1@{D1}", "127.0.0.1:9/app:1"]))
    pinner = ImagePinner(str(tmp_path), timeout=1)
    for lookup in (True, False):  # --no-resolve-image too: only the registry is not asked
        got = asyncio.run(pinner.pin("127.0.0.1:9/app:1", [holder, Holding(frozenset())], lookup=lookup))
        assert got.image == f"127.0.0.1:9/app:1@{D1}" and not got.warning
    missing = asyncio.run(pinner.pin("127.0.0.1:9/nosuch:1", [holder]))
    assert missing.image == "127.0.0.1:9/nosuch:1" and "no node holds it" in missing.warning


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-air"))


def _spec() -> ImageSpec:
    files = [Entry("bin", kind="dir", mode=0o755), Entry("bin/hello", b"#!/bin/sh\necho hi\n", mode=0o755)]
    return ImageSpec(layers=[files, [Entry("etc", kind="dir", mode=0o755), Entry("etc/x", b"x")]], tag="air:1")


@pytest.mark.parametrize("fmt", ["docker-save", "oci"])
def test_an_imported_image_is_pulled_from_its_only_holder(tmp_path, ca, fmt) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "img.tar")
    (write_docker_save if fmt == "docker-save" else write_oci_layout)(path, _spec())
    a = ImageStore(str(tmp_path / "a"))
    (rec,) = a.import_archive(path, "air:1")
    assert rec.repo_digests == (f"air@{rec.manifest}",)
    again = ImageStore(str(tmp_path / "a2"))
    assert again.import_archive(path, "air:1")[0].manifest == rec.manifest  # stable: the same bytes, the same digest
    pinned = f"air:1@{rec.manifest}"
    assert pinned in held_refs(rec.id, rec.tags, rec.repo_digests)
    assert a.resolve(pinned).id == rec.id

    server = PeerServer(a, "127.0.0.1:0", lambda: ca.identity("node-a", "worker", 3600))
    server.start()
    try:
        b = ImageStore(str(tmp_path / "b"))
        ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
        got = pull.pull(b, pinned, RegistrySettings(), peers=[f"127.0.0.1:{server.port}"], peer_tls=ctx)
        assert server.served_bytes > 0
    finally:
        server.stop()
    assert got.id == rec.id and b.resolve(pinned).id == rec.id and got.layers == rec.layers
    with open(os.path.join(b.layer_dirs(got.id)[0], "bin", "hello"), "rb") as f:
        assert f.read() == b"#!/bin/sh\necho hi\n"


def test_no_holder_and_no_registry_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = ImageStore(str(tmp_path / "b"))
    settings = RegistrySettings(insecure=("127.0.0.1:9",))
    with pytest.raises(Exception) as err:
        pull.pull(b, f"127.0.0.1:9/air:1@{D1}", settings)
    assert "\n" not in str(err.value) and "127.0.0.1:9/air:1" in str(err.value), err.value
    assert ": no node holds it, and registry 127.0.0.1:9 unreachable" in str(err.value), err.value
    assert not os.listdir(os.path.join(str(tmp_path / "b"), "blobs", "sha256"))


def test_an_import_whose_tag_moved_on_is_dangling_but_resolvable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = str(tmp_path / "1.tar"), str(tmp_path / "2.tar")
    write_docker_save(first, _spec())
    write_docker_save(second, ImageSpec(layers=[[Entry("other", b"2")]], tag="air:1"))
    a = ImageStore(str(tmp_path / "a"))
    (old,) = a.import_archive(first, "air:1")
    (new,) = a.import_archive(second, "air:1")
    assert a.resolve("air:1").id == new.id
    assert a.resolve(f"air:1@{old.manifest}").id == old.id  # a service pinned to it still finds it here
    dangling = {g.id: g.dangling for g in a.gc_images()}
    assert dangling == {old.id: True, new.id: False}  # prune (not -a) removes the superseded import


def test_the_index_a_pull_chose_from_is_kept_and_served(tmp_path, ca) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import json

    from node.engine.imageconfig import host_architecture

    path = str(tmp_path / "img.tar")
    write_docker_save(path, _spec())
    a = ImageStore(str(tmp_path / "a"))
    (rec,) = a.import_archive(path, "air:1")
    with open(a.blob_path(rec.manifest), "rb") as f:
        manifest = f.read()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": rec.manifest,
                       "size": len(manifest), "platform": {"os": "linux", "architecture": host_architecture()}}],
    }).encode()  # fmt: skip
    top = "sha256:" + hashlib.sha256(index).hexdigest()
    a.add_pulled_image(
        a.config_bytes(rec.id), manifest, list(rec.layers), [a.layer_blob(d) for d in rec.layers], "", f"air@{top}",
        index,
    )  # fmt: skip
    assert a.has_blob(top) and {top, rec.manifest, rec.id} <= {b for g in a.gc_images() for b, _ in g.parts}
    assert ImageStore(a.root).has_blob(top)  # not swept as an orphan when the store opens

    server = PeerServer(a, "127.0.0.1:0", lambda: ca.identity("node-a", "worker", 3600))
    server.start()
    try:
        b = ImageStore(str(tmp_path / "b"))
        ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
        got = pull.pull(b, f"air:1@{top}", RegistrySettings(), peers=[f"127.0.0.1:{server.port}"], peer_tls=ctx)
    finally:
        server.stop()
    assert got.id == rec.id and b.has_blob(top)  # B can serve the index in turn
    a.remove("air:1", lambda _id: False, force=True)
    assert not a.has_blob(top) and not a.has_blob(rec.manifest)
