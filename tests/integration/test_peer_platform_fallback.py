"""A node of another architecture and a peer that holds a different platform, against a real registry.

Node A pulls a three-platform image (this host's, linux/arm64, linux/arm/v7) from the CNCF distribution
registry and keeps the index; node B, pulling the pinned index digest for linux/arm/v7 with A as its only
peer, gets the index from A and the arm manifest, config and layer from the registry. With the registry gone,
a third node gets linux/arm/v7 from B alone, and linux/arm64, which no node holds, fails in one line naming
the platform and the platforms A and B hold. Real stores, real peer servers over the cluster's mTLS.
"""

from __future__ import annotations

import json
import shutil
import uuid

import pytest
from registryutil import Registry, write_multiarch

from manager.ca import CertificateAuthority, create_root
from node.engine.images import ImageStore
from node.engine.registry import pull
from node.engine.registry.peerserver import PeerServer
from svc import tls
from svc.errors import Unavailable
from svc.registry.platforms import host_platform
from svc.registry.settings import RegistrySettings

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
    pytest.mark.skipif(host_platform().architecture in ("arm", "arm64"), reason="the image's other platforms are arm"),
]


def _arch(store: ImageStore, image_id: str) -> str:
    doc = json.loads(store.config_bytes(image_id))
    return f"{doc['os']}/{doc['architecture']}" + (f"/{doc['variant']}" if doc.get("variant") else "")


def test_the_platform_a_peer_lacks_comes_from_the_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = CertificateAuthority(*create_root("cluster-multiarch"))
    reg = Registry(str(tmp_path))
    src = str(tmp_path / "multi.tar")
    write_multiarch(src, f"multi-{uuid.uuid4().hex}")
    reg.push(f"oci-archive:{src}:multi", "multi:1", "--all")
    settings = RegistrySettings(insecure=(reg.host,))
    servers: list[PeerServer] = []

    def serve(store: ImageStore, name: str) -> str:
        server = PeerServer(store, "127.0.0.1:0", lambda: ca.identity(name, "worker", 3600))
        server.start()
        servers.append(server)
        return f"127.0.0.1:{server.port}"

    ctx = tls.ssl_context(ca.identity("node-c", "worker", 3600), server=False)
    try:
        a = ImageStore(str(tmp_path / "a"))
        held = pull.pull(a, f"{reg.host}/multi:1", settings)  # this host's platform; the index is kept
        (pinned,) = held.repo_digests
        top = pinned.split("@", 1)[1]
        with open(a.blob_path(top), "rb") as f:
            index = f.read()
        a_addr = serve(a, "node-a")

        b = ImageStore(str(tmp_path / "b"))
        got = pull.pull(b, f"{reg.host}/multi:1@{top}", settings, platform="linux/arm/v7", peers=[a_addr],
                        peer_tls=ctx)  # fmt: skip
        assert _arch(b, got.id) == "linux/arm/v7" and b.has_blob(top)
        assert servers[0].served_bytes == len(index)  # the index from A; all else A lacks, from the registry
        b_addr = serve(b, "node-b")

        reg.stop()  # air-gapped from here on
        c = ImageStore(str(tmp_path / "c"))
        image = f"{reg.host}/multi:1@{top}"
        again = pull.pull(c, image, settings, platform="linux/arm/v7", peers=[a_addr, b_addr], peer_tls=ctx)
        assert again.id == got.id  # B holds linux/arm/v7 now and serves it
        with pytest.raises(Unavailable) as err:
            pull.pull(c, image, settings, platform="linux/arm64", peers=[a_addr, b_addr], peer_tls=ctx)
        text = str(err.value)
        here = str(host_platform())
        assert text.startswith(
            f"pulling {image}: no node holds it for linux/arm64 (the nodes asked hold {here}, linux/arm/v7),"
            f" and registry {reg.host} unreachable: "
        ), text
        assert "\n" not in text
    finally:
        for server in servers:
            server.stop()
        reg.stop()
