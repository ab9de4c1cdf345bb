"""Quorum loss: `svcd manager --force-new-cluster` on the last manager standing keeps the cluster.

3 managers and a node run a service; two managers are lost for good (kill -9); the survivor,
restarted with --force-new-cluster, is a one-manager cluster with the services, tasks, nodes and
CA it had; two new managers join it. Forcing while the others still answer is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import REPO, poll
from test_cluster import build

pytestmark = pytest.mark.root


def test_force_new_cluster_after_losing_two_of_three_managers(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=3, nodes=1)
    c.ok("create", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000000")
    poll(lambda: c.converged("web", 3), 60, what="web to run")
    survivor, lost = c.managers()[0], c.managers()[1:]
    node_ids = sorted(n["id"] for n in c.json_lines("node", "ls") if n["role"] != "manager")

    c.kill9(survivor, "manager")
    raft_dir = os.path.join(survivor.data_dir, "manager", "raft")
    before = sorted(os.listdir(raft_dir))
    r = _svcd(survivor, "--force-new-cluster")  # the other two still form a quorum: refused
    assert r.returncode != 0 and "still has a quorum" in r.stderr.strip().splitlines()[-1], r.stderr
    assert sorted(os.listdir(raft_dir)) == before, "a refused force changed the journal"

    for h in lost:
        c.kill9(h, "manager")
    c.start_manager(survivor, extra=("--force-new-cluster",))
    poll(lambda: c.cli(survivor, "ls").returncode == 0, 60, what="the forced manager to answer")
    nodes = c.json_lines("node", "ls")
    assert [n["role"] for n in nodes].count("manager") == 1
    assert sorted(n["id"] for n in nodes if n["role"] != "manager") == node_ids
    poll(lambda: c.converged("web", 3), 60, what="web still running after the force")
    assert "forcing a new cluster" in survivor.manager.log()

    for h in lost:  # lost for good: their places go to two new hosts
        h.manager = None
    for _ in range(2):
        c.start_manager(c.add_host(), join=survivor)
    poll(lambda: [n["role"] for n in c.json_lines("node", "ls")].count("manager") == 3, 60, what="3 managers")
    c.ok("scale", "web=4", via=survivor)
    poll(lambda: c.converged("web", 4), 60, what="web scaled in the new cluster")


def _svcd(h, *extra: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    args = ["manager", "--data-dir", h.data_dir, "--run-dir", h.run_dir, "--listen-addr", h.api,
            "--metrics-addr", "", *extra]
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "svcd", *args], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": REPO})
    assert time.monotonic() - t0 < 10
    return r
