"""`svcd node --insecure-registry`: the flag alone lets a node pull over plain HTTP, merged with
registries.json (which is still read at every pull)."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest
from helpers import Daemon, poll, run_cli
from registryutil import Registry, oci_archive

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
]


def test_insecure_registry_flag_and_the_file_together(engine_env, tmp_path_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    flagged = Registry(str(tmp_path_factory.mktemp("flagged")))
    filed = Registry(str(tmp_path_factory.mktemp("filed")))
    env = {"SVC_RUN_DIR": engine_env.run_dir}
    sock = os.path.join(engine_env.run_dir, "engine.sock")
    args = engine_env.node_args("--metrics-addr", "", "--insecure-registry", flagged.host)
    d = Daemon(args, os.path.join(engine_env.base, "node.log")).start()
    try:
        flagged.push(f"oci-archive:{oci_archive(tmp_path, f'flag-{uuid.uuid4().hex}')}", "flag:1")
        filed.push(f"oci-archive:{oci_archive(tmp_path, f'file-{uuid.uuid4().hex}')}", "file:1")
        poll(lambda: os.path.exists(sock) and run_cli("image", "ls", env=env).returncode == 0, 30, what="the node")
        r = run_cli("image", "pull", "-q", f"{flagged.host}/flag:1", env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        r = run_cli("image", "pull", "-q", f"{filed.host}/file:1", env=env, timeout=60)
        assert r.returncode != 0 and "--insecure-registry" in r.stderr, r.stderr
        with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
            json.dump({"insecure-registries": [filed.host]}, f)  # no restart: read at the next pull
        r = run_cli("image", "pull", "-q", f"{filed.host}/file:1", env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        r = run_cli("image", "pull", "-q", f"{flagged.host}/flag:1", env=env, timeout=60)
        assert r.returncode == 0, r.stderr  # the flag still counts beside the file
    finally:
        d.stop()
        flagged.stop()
        filed.stop()
    assert not engine_env.leftovers()
