"""Backup and restore: `svc cluster backup FILE` from a running cluster, `svcd manager --init --restore FILE
--restore-key KEY` on a new host makes a cluster of it; the node reconnects, its containers adopted, and
a manager joins with the old token.

A bad restore (wrong key, a flipped byte, a file that is not a backup, missing flags) is one line and a
non-zero exit, and leaves nothing in its data dir."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time

import pytest
from helpers import REPO, poll
from test_cluster import _images

pytestmark = pytest.mark.root


def test_backup_then_restore_on_a_new_manager(make_cluster) -> None:  # type: ignore[no-untyped-def]
    # Heartbeat 2 s: a new leader gives nodes 12 s to find it before it marks them down, room for the
    # node's restart below even on a loaded host (the check that its containers are adopted depends on it).
    c = make_cluster(heartbeat=2.0)
    old = c.start_manager(c.add_host())
    n = c.add_host()
    c.start_node(n, join=old)
    c.import_image(n, c.busybox)
    poll(lambda: "busybox:latest" in _images(c, n), 30, what="the node to report its image")
    c.ok("create", "--name", "web", "--replicas", "2", "-e", "A=1", "busybox", "sleep", "1000000")
    c.ok("create", "--name", "api", "--label", "tier=back", "busybox", "sleep", "999999")
    poll(lambda: c.converged("web", 2) and c.converged("api", 1), 60, what="both services to run")
    info = c.ok("cluster", "info")
    cluster_id = re.search(r"Cluster ID:\s+(\S+)", info).group(1)  # type: ignore[union-attr]
    services = {s["spec"]["name"]: (s["id"], s["spec"]) for s in c.json_lines("ls")}
    node_id = next(x["id"] for x in c.json_lines("node", "ls") if x["role"] != "manager")
    tokens = {role: c.token(role, via=old) for role in ("worker", "manager")}
    containers = sorted(x["id"] for x in c.running_containers(n))
    assert len(containers) == 3

    path = os.path.join(c.base, "cluster.svcbackup")
    out = c.ok("cluster", "backup", path)
    key = re.search(r"^key: (SVCBKP-[A-Z2-7]{52})$", out, re.M).group(1)  # type: ignore[union-attr]
    assert f"cluster {cluster_id}" in out and "2 services, 2 nodes" in out and "stored nowhere" in out
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as f:
        raw = f.read()
    for secret in (tokens["worker"].rsplit("-", 1)[1], b"PRIVATE KEY", b"sleep"):
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in raw
    r = c.cli(None, "cluster", "backup", path)  # each backup has its own key: never replaced by accident
    assert r.returncode != 0 and r.stderr.strip() == f"svc: {path} exists: give another file, or --force to replace it"
    with open(path, "rb") as f:
        assert f.read() == raw
    replaced = key
    key = c.ok("cluster", "backup", "-q", "--force", path).strip()  # a new file, a new key
    assert re.fullmatch(r"SVCBKP-[A-Z2-7]{52}", key) and key != replaced

    # The old cluster is lost for good; the node's daemon stops (its containers run on).
    c.kill9(old, "manager")
    old.manager = None
    n.node.stop()

    new = c.add_host()
    _bad_restores(new, path, key, replaced, c.busybox)
    c.start_manager(new, extra=("--restore", path, "--restore-key", key))
    c.start_node(n, join=new)  # it holds a certificate from the same CA: no token
    assert "--token" not in n.node.args
    poll(lambda: c.converged("web", 2) and c.converged("api", 1), 60, what="both services after the restore")
    assert sorted(x["id"] for x in c.running_containers(n)) == containers, "the node's containers were replaced"

    assert re.search(r"Cluster ID:\s+(\S+)", c.ok("cluster", "info", via=new)).group(1) == cluster_id  # type: ignore[union-attr]
    assert {s["spec"]["name"]: (s["id"], s["spec"]) for s in c.json_lines("ls")} == services
    nodes = c.json_lines("node", "ls")
    assert [x["description"]["hostname"] for x in nodes if x["role"] == "manager"] == [f"mgr-{new.name}"]
    assert [x["id"] for x in nodes if x["role"] != "manager"] == [node_id]
    assert {role: c.token(role, via=new) for role in tokens} == tokens  # old tokens join the new cluster
    log = new.manager.log()
    assert "restoring cluster" in log and "a new cluster from the backup" in log
    assert tokens["worker"].rsplit("-", 1)[1] not in log and key not in log

    c.ok("scale", "web=3", via=new)  # and it is a working cluster
    poll(lambda: c.converged("web", 3), 60, what="web scaled in the restored cluster")
    c.start_manager(c.add_host(), join=new)  # with the old manager token, and the new Raft key
    poll(lambda: [x["role"] for x in c.json_lines("node", "ls")].count("manager") == 2, 60, what="2 managers")


def _bad_restores(h, path: str, key: str, replaced: str, not_a_backup: str) -> None:  # type: ignore[no-untyped-def]
    """Each refused in one line, with nothing left in its data dir (no manager state, no role record)."""
    flipped = path + ".flipped"
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0x40
    with open(flipped, "wb") as f:
        f.write(data)
    wrong = "SVCBKP-" + "A" * 52
    cases = [
        (("--init", "--restore", path, "--restore-key", wrong), {}, f"the restore key is not the key of {path}"),
        (("--init", "--restore", path, "--restore-key", replaced), {}, "the restore key is not the key of"),
        (("--init", "--restore", path), {"SVC_RESTORE_KEY": wrong}, "the restore key is not the key of"),
        (("--init", "--restore", flipped, "--restore-key", key), {}, f"{flipped} is damaged"),
        (("--init", "--restore", not_a_backup, "--restore-key", key), {}, f"{not_a_backup} is not an svc backup"),
        (("--init", "--restore", path, "--restore-key", "hunter2"), {}, "the restore key is not a backup key"),
        (("--restore", path, "--restore-key", key), {}, "--restore makes a new cluster from a backup: it needs --init"),
        (("--init", "--restore", path), {}, "--restore needs the key `svc cluster backup` printed"),
        (("--init", "--restore", path + ".missing", "--restore-key", key), {}, "cannot read backup"),
    ]
    for i, (args, env, message) in enumerate(cases):
        data_dir = os.path.join(h.base, f"bad{i}")
        r = _svcd(h, data_dir, args, env)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode != 0 and len(lines) == 1, (args, r.stderr)
        assert lines[0].startswith("svcd: ") and message in lines[0], (args, r.stderr)
        assert key not in r.stderr
        left = set(os.listdir(data_dir)) - {"svcd.lock"}
        assert not left, f"{args}: left {left} in the data dir"


def _svcd(h, data_dir: str, extra: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    args = ["manager", "--data-dir", data_dir, "--run-dir", data_dir + "-run", "--listen-addr", h.api,
            "--metrics-addr", "", *extra]
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "svcd", *args], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": REPO, **env})
    assert time.monotonic() - t0 < 10
    return r
