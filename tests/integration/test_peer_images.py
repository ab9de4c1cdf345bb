"""Peer distribution (issue #13 item 5): nodes fetch a pinned image from the nodes that hold it.

One manager and three nodes on loopback with the real CNCF registry. A service pinned from the registry
runs on one node; the registry is then stopped, and scaling to three replicas still runs on every node:
the two new nodes can only have got the manifest and every blob from the first node's peer server. That
server refuses a client without a cluster certificate, a CLI's certificate, and any request by tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import uuid
from typing import Any

import httpx
import pytest
from helpers import poll
from registryutil import Registry, oci_archive

from svc import defaults, tls

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
]


def _trust(path: str, registry: Registry) -> None:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "registries.json"), "w") as f:
        json.dump({"insecure-registries": [registry.host]}, f)


def _on(c: Any, service: str) -> list[str]:
    return sorted(
        h.name
        for h in c.nodes()
        for ctr in c.running_containers(h)
        if ctr.get("labels", {}).get("svc.service.name") == service
    )


def test_scaling_with_the_registry_gone_pulls_from_peers(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    os.makedirs(tmp_path / "reg")
    registry = Registry(str(tmp_path / "reg"))
    try:
        registry.push(f"oci-archive:{oci_archive(tmp_path, 'peer-' + uuid.uuid4().hex)}", "web:1")
        digest = registry.digest("web:1")
        c = make_cluster()
        m = c.start_manager(c.add_host())
        _trust(os.path.join(m.data_dir, "manager"), registry)
        hosts = []
        for _ in range(3):
            h = c.add_host()
            _trust(os.path.join(h.data_dir, "node"), registry)
            hosts.append(c.start_node(h))
        image = f"{registry.host}/web:1"
        r = c.cli(None, "create", "--name", "web", image, "sleep", "1000000", timeout=300)
        assert r.returncode == 0, r.stderr
        assert json.loads(c.ok("inspect", "web"))[0]["spec"]["task"]["image"] == f"{image}@{digest}"
        (first,) = _on(c, "web")
        holder = next(h for h in hosts if h.name == first)
        peer = f"{holder.addr}:{defaults.NODE_PEER_PORT}"
        nodes = {n["description"]["hostname"]: n["description"] for n in c.json_lines("node", "ls", "--format", "json")}
        assert nodes[f"node-{first}"]["peer_addr"] == peer, nodes

        registry.stop()  # from here on only a peer can serve the image
        r = c.cli(None, "scale", "web=3", timeout=300)
        assert r.returncode == 0, r.stderr + c.logs()
        assert c.converged("web", 3)
        assert _on(c, "web") == sorted(h.name for h in hosts)
        for h in hosts:
            if h is not holder:
                with open(os.path.join(h.base, "node.log")) as f:
                    assert f"bytes from {peer}" in f.read(), h.name

        # The peer server: the manifest by digest for a node, nothing by tag, nothing without a node's certificate.
        node_id = tls.Identity.load(os.path.join(hosts[0].data_dir, "node", "tls"))
        assert node_id is not None
        with httpx.Client(verify=tls.ssl_context(node_id, server=False), timeout=10) as client:
            ok = client.get(f"https://{peer}/v2/web/manifests/{digest}")
            assert ok.status_code == 200 and "sha256:" + hashlib.sha256(ok.content).hexdigest() == digest
            by_tag = client.get(f"https://{peer}/v2/web/manifests/1")
            assert by_tag.status_code == 400 and "digest only" in by_tag.text
        bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        bare.check_hostname = False
        bare.load_verify_locations(cadata=node_id.ca_pem.decode())
        with httpx.Client(verify=bare, timeout=10) as client, pytest.raises(httpx.HTTPError):
            client.get(f"https://{peer}/v2/web/manifests/{digest}")
        admin = tls.Identity.load(c.admin_dir())
        assert admin is not None
        with httpx.Client(verify=tls.ssl_context(admin, server=False), timeout=10) as client:
            assert client.get(f"https://{peer}/v2/web/manifests/{digest}").status_code == 403
        poll(lambda: c.converged("web", 3), 30, what="the service to stay converged")
    finally:
        registry.stop()


def test_a_taken_peer_port_is_one_line_before_anything_is_made(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket
    import subprocess
    import sys

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        data = str(tmp_path / "data")
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        r = subprocess.run(
            [sys.executable, "-m", "svcd", "node", "--data-dir", data, "--run-dir", str(tmp_path / "run"),
             "--join", "127.0.0.1:1", "--token", "SWMTKN-1-x", "--advertise-addr", "127.0.0.1",
             "--peer-port", str(port), "--metrics-addr", ""],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": repo},
        )  # fmt: skip
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert lines[-1].startswith("svcd: ") and f"peer address (--peer-port) 127.0.0.1:{port} is in use" in lines[-1]
    assert not os.path.exists(os.path.join(data, "node", "tls")), "joined before refusing"
