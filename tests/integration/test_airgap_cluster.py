"""Air-gapped clusters (issue #13): an image imported on one node runs on every node, with no registry.

One manager and three nodes on loopback, and no registry anywhere. A `docker save` tarball is imported
on one node only; `svc create --replicas 3 --max-replicas-per-node 1` pins the service to the digest
that node reports, and the two other nodes fetch the manifest, config and layers from its peer server.
An image no node holds, with no registry to ask, is a warning at create and a one-line task error.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli

from svc import defaults

pytestmark = [pytest.mark.root]


def _on(c: Any, service: str) -> list[str]:
    return sorted(
        h.name
        for h in c.nodes()
        for ctr in c.running_containers(h)
        if ctr.get("labels", {}).get("svc.service.name") == service
    )


def _reported(c: Any, hostname: str, prefix: str) -> str:
    for n in c.json_lines("node", "ls"):
        if n["description"]["hostname"] == hostname:
            return next((r for r in n["description"].get("images", []) if r.startswith(prefix)), "")
    return ""


def test_an_image_imported_on_one_node_runs_on_three(make_cluster, image_dir) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    c.start_manager(c.add_host())
    hosts = [c.start_node(c.add_host()) for _ in range(3)]
    holder = hosts[0]
    image = f"airgap-{uuid.uuid4().hex[:12]}:1"
    c.import_image(holder, os.path.join(image_dir, "busybox-docker.tar"), image)
    pinned = poll(lambda: _reported(c, f"node-{holder.name}", f"{image}@sha256:"), 30, what="the import reported")

    r = c.cli(None, "create", "--name", "air", "--replicas", "3", "--max-replicas-per-node", "1",
              image, "sleep", "1000000", timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr + c.logs()
    assert "warning" not in r.stderr.lower(), r.stderr
    assert json.loads(c.ok("inspect", "air"))[0]["spec"]["task"]["image"] == pinned
    assert c.converged("air", 3)
    assert _on(c, "air") == sorted(h.name for h in hosts)
    peer = f"{holder.addr}:{defaults.NODE_PEER_PORT}"
    for h in hosts[1:]:
        with open(os.path.join(h.base, "node.log")) as f:
            assert f"bytes from {peer}" in f.read(), h.name

    # --no-resolve-image asks no registry either way: the same pin
    r = c.cli(None, "create", "--name", "air2", "-d", "--no-resolve-image", image, "sleep", "1000000")
    assert r.returncode == 0, r.stderr
    assert json.loads(c.ok("inspect", "air2"))[0]["spec"]["task"]["image"] == pinned

    # held by no node, and no registry to ask: a warning now, a one-line task error later, nothing half-made
    missing = f"127.0.0.1:1/nosuch-{uuid.uuid4().hex[:8]}:1"
    r = c.cli(None, "create", "--name", "ghost", "-d", missing, "true")
    assert r.returncode == 0, r.stderr
    assert "could not be accessed on a registry" in r.stderr and "no node holds it" in r.stderr, r.stderr

    def rejected() -> str:
        for t in c.tasks("ghost"):
            status = t.get("status", {})
            if status.get("state") == "rejected" and status.get("err"):
                return str(status["err"])
        return ""

    err = poll(rejected, 120, what="the task of an image nobody has to be rejected")
    assert "\n" not in err and missing in err and "unreachable" in err, err
    for h in hosts:  # nothing half-pulled
        r = run_cli("image", "ls", env={"SVC_RUN_DIR": h.run_dir})
        assert r.returncode == 0 and "nosuch" not in r.stdout, r.stdout
