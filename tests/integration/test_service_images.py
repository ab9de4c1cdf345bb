"""Services from a registry, on nodes that never imported anything (issue #13's "done when"):
`svc create --name web REGISTRY/web:1` pins the tag to its digest on the leader, every node pulls
that digest, and a tag moved in the registry afterwards changes nothing until `svc update --image`.

One manager and two nodes on loopback; the registry is the real CNCF distribution registry.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli
from registryutil import Registry, oci_archive, write_htpasswd

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
]


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    reg = Registry(str(tmp_path_factory.mktemp("registry")))
    yield reg
    reg.stop()


def _trust(path: str, registry: Registry) -> None:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "registries.json"), "w") as f:
        json.dump({"insecure-registries": [registry.host]}, f)


def _cluster(make_cluster: Any, registry: Registry) -> Any:
    c = make_cluster()
    m = c.start_manager(c.add_host())
    _trust(os.path.join(m.data_dir, "manager"), registry)  # read at each lookup: no restart
    for _ in range(2):
        h = c.add_host()
        _trust(os.path.join(h.data_dir, "node"), registry)
        c.start_node(h)
    return c


@pytest.fixture
def cluster(make_cluster, registry):  # type: ignore[no-untyped-def]
    return _cluster(make_cluster, registry)


def _marker(c: Any, h: Any, container_id: str) -> str:
    r = run_cli("container", "exec", container_id, "cat", "/marker", env={"SVC_RUN_DIR": h.run_dir})
    assert r.returncode == 0, r.stderr
    return r.stdout


def _containers(c: Any, service: str) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (h, ctr)
        for h in c.nodes()
        for ctr in c.running_containers(h)
        if ctr.get("labels", {}).get("svc.service.name") == service
    ]


def test_a_service_from_a_registry_runs_on_every_node_by_one_digest(cluster, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    first, second = f"one-{uuid.uuid4().hex}", f"two-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, first)}", "web:1")
    digest = registry.digest("web:1")
    image = f"{registry.host}/web:1"

    r = c.cli(None, "create", "--name", "web", "--replicas", "4", image, "sleep", "1000000", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr, r.stderr
    spec = json.loads(c.ok("inspect", "web"))[0]["spec"]
    assert spec["task"]["image"] == f"{image}@{digest}"  # pinned on the leader, as Swarm does
    row = next(ln for ln in c.ok("ls").splitlines() if " web " in f" {ln} ")
    assert f" {image} " in f" {row} " and "@sha256" not in row  # `svc ls` shows the tag, as docker does
    placed = _containers(c, "web")
    assert len(placed) == 4 and {h.name for h, _ in placed} == {h.name for h in c.nodes()}
    assert all(_marker(c, h, ctr["id"]) == first for h, ctr in placed)

    # The tag moves in the registry: new replicas still run the pinned digest.
    registry.push(f"oci-archive:{oci_archive(tmp_path, second)}", "web:1")
    assert registry.digest("web:1") != digest
    assert c.cli(None, "scale", "web=6", timeout=300).returncode == 0
    placed = _containers(c, "web")
    assert len(placed) == 6 and all(_marker(c, h, ctr["id"]) == first for h, ctr in placed)

    # `svc update --image` pins again: the tag's new digest, on every replica.
    r = c.cli(None, "update", "--image", image, "web", timeout=300)
    assert r.returncode == 0, r.stderr
    moved = registry.digest("web:1")
    assert json.loads(c.ok("inspect", "web"))[0]["spec"]["task"]["image"] == f"{image}@{moved}"
    poll(
        lambda: len(p := _containers(c, "web")) == 6 and all(_marker(c, h, ctr["id"]) == second for h, ctr in p),
        120,
        what="every replica to run the new digest",
    )


def test_no_resolve_image_and_an_image_the_registry_lacks(cluster, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    registry.push(f"oci-archive:{oci_archive(tmp_path, 'plain-' + uuid.uuid4().hex)}", "plain:1")
    image = f"{registry.host}/plain:1"
    r = c.cli(None, "create", "--name", "plain", "--no-resolve-image", image, "sleep", "1000000", timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(c.ok("inspect", "plain"))[0]["spec"]["task"]["image"] == image  # the tag, kept
    assert c.converged("plain", 1)

    missing = f"{registry.host}/nosuch:1"
    r = c.cli(None, "create", "--name", "gone", "-d", missing, "true")
    assert r.returncode == 0, r.stderr
    assert "could not be accessed on a registry" in r.stderr and "nosuch" in r.stderr, r.stderr

    def rejected() -> str:
        for t in c.tasks("gone"):
            err = t.get("status", {}).get("err", "")
            if t.get("status", {}).get("state") == "rejected" and err:
                return str(err)
        return ""

    err = poll(rejected, 120, what="the task of an image the registry lacks to be rejected")
    assert "nosuch" in err and "manifest" in err.lower(), err
    for h in c.nodes():  # nothing half-pulled
        r = run_cli("image", "ls", env={"SVC_RUN_DIR": h.run_dir})
        assert "nosuch" not in r.stdout


def _files_holding(root: str, secret: bytes) -> list[str]:
    """Regular files under `root` holding `secret` (not a FIFO conmon reads from, nor a mounted rootfs)."""
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not os.path.ismount(os.path.join(d, x))]
        for name in files:
            path = os.path.join(d, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as f:
                    if secret in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_with_registry_auth_hands_the_login_to_the_nodes_only(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    password = f"pw-{uuid.uuid4().hex}"
    os.makedirs(tmp_path / "reg")
    reg = Registry(str(tmp_path / "reg"), htpasswd=write_htpasswd(str(tmp_path / "htpasswd"), "alice", password))
    try:
        reg.push_flags = ("--dest-creds", f"alice:{password}")
        reg.push(f"oci-archive:{oci_archive(tmp_path, 'auth-' + uuid.uuid4().hex)}", "private:1")
        c = _cluster(make_cluster, reg)
        image = f"{reg.host}/private:1"
        user = {"DOCKER_CONFIG": str(tmp_path / "docker")}

        def cli(*args: str) -> Any:
            env = {"SVC_HOST": c.any_live_manager().api, "SVC_TLS_DIR": c.admin_dir(), **user}
            return run_cli(*args, env=env, timeout=300)

        refused = cli("create", "--name", "private", "--with-registry-auth", image, "sleep", "1000000")
        assert refused.returncode != 0 and f"no login for {reg.host}" in refused.stderr, refused.stderr
        via_node = {**user, "SVC_RUN_DIR": c.nodes()[0].run_dir}  # the node's engine checks the login
        login = run_cli("login", reg.host, "-u", "alice", "--password-stdin", env=via_node, input=password.encode())
        assert login.returncode == 0, login.stderr
        r = cli("create", "--name", "private", "--replicas", "2", "--with-registry-auth", image, "sleep", "1000000")
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr, r.stderr  # the leader pinned the digest with the same login
        inspect = cli("inspect", "private").stdout
        assert password not in inspect and "@sha256:" in inspect
        assert password not in cli("ps", "private", "--format", "json").stdout
        assert {h.name for h, _ in _containers(c, "private")} == {h.name for h in c.nodes()}
        for h in c.nodes():  # the pull used it; no node's disk holds it
            assert not _files_holding(h.base, password.encode()), h.name

        # An update that does not repeat --with-registry-auth keeps it: a new replica still pulls.
        r = cli("update", "--env-add", "X=1", "private")
        assert r.returncode == 0, r.stderr
        assert c.converged("private", 2)
    finally:
        reg.stop()
