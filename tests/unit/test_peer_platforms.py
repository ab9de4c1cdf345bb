"""A peer holds only the platforms it pulled (node/engine/registry/sources.py): a node of another architecture
pulling a service's pinned index from it gets the index there and the rest upstream; with no upstream, the
error names the platform it needs and the platforms the peers hold.

The wording is a pure function (`sources.lacking`); the error path runs a real peer server holding an index of
two platforms (plus an attestation entry) and the manifest of one, and no registry at all.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from imagebuild import Entry, ImageSpec, write_docker_save

from manager.ca import CertificateAuthority, create_root
from node.engine.imageconfig import host_architecture
from node.engine.images import ImageStore
from node.engine.registry import pull, sources
from node.engine.registry.peerserver import PeerServer
from svc import tls
from svc.errors import Unavailable
from svc.registry.settings import RegistrySettings

_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_what_the_peers_lacked_in_words() -> None:
    assert sources.lacking(False) == "no node holds it"
    assert sources.lacking(True) == "the nodes that hold it did not serve it"
    assert sources.lacking(True, "linux/arm/v7") == "no node holds it for linux/arm/v7"
    held = sources.lacking(True, "linux/arm/v7", ["linux/amd64", "linux/arm64"])
    assert held == "no node holds it for linux/arm/v7 (the nodes asked hold linux/amd64, linux/arm64)"
    assert sources.lacking(True, "linux/arm/v7", []) == "no node holds it for linux/arm/v7"  # held: nothing known


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority(*create_root("cluster-platforms"))


def _platform(arch: str) -> dict[str, str]:
    return {"os": "linux", "architecture": arch, **({"variant": "v7"} if arch == "arm" else {})}


def test_a_peer_without_this_platform_and_no_registry_is_one_line_naming_both(tmp_path, ca) -> None:  # type: ignore[no-untyped-def]
    held_arch = host_architecture()
    other = "arm" if held_arch != "arm" else "amd64"
    path = str(tmp_path / "img.tar")
    write_docker_save(path, ImageSpec(layers=[[Entry("marker", b"held platform")]], tag="multi:1"))
    a = ImageStore(str(tmp_path / "a"))
    (rec,) = a.import_archive(path, "multi:1")
    with open(a.blob_path(rec.manifest), "rb") as f:
        manifest = f.read()
    absent = b'{"schemaVersion": 2, "absent": true}'  # the other platform's manifest: on no node
    attestation = b'{"schemaVersion": 2, "attestation": true}'
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": _MANIFEST, "digest": "sha256:" + hashlib.sha256(absent).hexdigest(), "size": len(absent),
             "platform": _platform(other)},
            {"mediaType": _MANIFEST, "digest": rec.manifest, "size": len(manifest), "platform": _platform(held_arch)},
            {"mediaType": _MANIFEST, "digest": "sha256:" + hashlib.sha256(attestation).hexdigest(),
             "size": len(attestation), "platform": {"os": "unknown", "architecture": "unknown"}},
        ],
    }).encode()  # fmt: skip
    top = "sha256:" + hashlib.sha256(index).hexdigest()
    a.add_pulled_image(
        a.config_bytes(rec.id), manifest, list(rec.layers), [a.layer_blob(d) for d in rec.layers], "",
        f"127.0.0.1:9/multi@{top}", index,
    )  # fmt: skip

    server = PeerServer(a, "127.0.0.1:0", lambda: ca.identity("node-a", "worker", 3600))
    server.start()
    try:
        b = ImageStore(str(tmp_path / "b"))
        ctx = tls.ssl_context(ca.identity("node-b", "worker", 3600), server=False)
        settings = RegistrySettings(insecure=("127.0.0.1:9",))
        peers = [f"127.0.0.1:{server.port}"]
        want = "linux/arm/v7" if other == "arm" else "linux/amd64"
        with pytest.raises(Unavailable) as err:
            pull.pull(b, f"127.0.0.1:9/multi:1@{top}", settings, platform=want, peers=peers, peer_tls=ctx)
        text = str(err.value)
        held = "linux/arm/v7" if held_arch == "arm" else f"linux/{held_arch}"
        assert text.startswith(
            f"pulling 127.0.0.1:9/multi:1@{top}: no node holds it for {want} (the nodes asked hold {held}),"
            " and registry 127.0.0.1:9 unreachable: "
        ), text
        assert "\n" not in text and "unknown" not in text
        assert not os.listdir(os.path.join(b.root, "blobs", "sha256")) and b.records() == []
        # The platform the peer holds comes from it alone, the index with it.
        got = pull.pull(b, f"127.0.0.1:9/multi:1@{top}", settings, peers=peers, peer_tls=ctx)
        assert got.id == rec.id and b.has_blob(top)
    finally:
        server.stop()
