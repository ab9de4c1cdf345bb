"""CA root rotation (issue #12, item 6): `svc cluster ca --rotate` moves a manager and two nodes running a
replicated service to a new root — with autolock on — while every task keeps running, no node goes down and
none registers again (their sessions survive their renewals). After it every certificate chains to the new
root, the old root is out of every trust bundle, the join token pins the new root (the old token is refused)
and a new node joins; a node joins during a second rotation too. The new CA key is nowhere in the clear on
the manager's disk. Bad input: a second `--rotate` while one runs, `--detach` alone, no manager: one line.
And with 3 managers, the leader killed mid-rotation: the new leader finishes it, and the old one, back,
renews from its store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from helpers import REPO, poll, run_cli
from test_cluster import _images

from svc import backup as sealed
from svc import keywrap, tls

pytestmark = pytest.mark.root


def _identity(h: Any, role: str) -> tls.Identity:
    d = os.path.join(h.data_dir, role, "tls")
    with open(os.path.join(d, "ca.pem"), "rb") as f:
        ca = f.read()
    with open(os.path.join(d, "cert.pem"), "rb") as f:
        cert = f.read()
    return tls.Identity(ca_pem=ca, cert_pem=cert, key_pem=b"")


def _on_root(ident: tls.Identity, root: str) -> bool:
    """The certificate chains to `root`, and `root` is the only root the bundle trusts."""
    return tls.issuer_digest(ident) == root and tls.trust_fingerprint(ident.ca_pem) == root


def _fingerprint(c: Any) -> str:
    return c.ok("cluster", "ca", "-q").strip()


def _registrations(h: Any) -> int:
    with open(os.path.join(h.base, "node.log"), errors="replace") as f:
        return f.read().count("registered with ")


class _Watch(threading.Thread):
    """Samples node states and the service's tasks while the rotation runs."""

    def __init__(self, c: Any) -> None:
        super().__init__(daemon=True)
        self.c, self.stop = c, threading.Event()
        self.states: set[str] = set()
        self.task_sets: set[tuple[str, ...]] = set()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.states |= {n["state"] for n in self.c.json_lines("node", "ls")}
                running = tuple(sorted(t["id"] for t in self.c.tasks("web") if t["status"]["state"] == "running"))
                self.task_sets.add(running)
            except AssertionError as exc:  # a CLI call failed: say so, but keep watching
                self.errors.append(str(exc))
            self.stop.wait(0.5)


def test_ca_rotation_keeps_every_session_and_task(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m = c.start_manager(c.add_host())
    n1, n2 = c.add_host(), c.add_host()
    for n in (n1, n2):
        c.start_node(n, join=m)
        c.import_image(n, c.busybox)
    poll(lambda: all("busybox:latest" in _images(c, n) for n in (n1, n2)), 30, what="both nodes' images")
    c.ok("create", "--name", "web", "--replicas", "4", "busybox", "sleep", "1000000")
    poll(lambda: c.converged("web", 4), 60, what="web to run 4 tasks")

    out = c.ok("cluster", "update", "--autolock=true")
    unlock_key = re.search(r"SWMKEY-1-[A-Z2-7]{52}", out).group(0)  # type: ignore[union-attr]
    local_admin = os.path.join(m.run_dir, "admin")
    poll(lambda: os.path.exists(os.path.join(local_admin, "cert.pem")), 30, what="the admin credential in the run dir")
    # (c.cli follows the manager's local credential, reissued for each new root: a bundle would not be)
    poll(lambda: not os.path.exists(os.path.join(m.data_dir, "manager", "tls", "key.pem")), 30, what="the seal")

    old_root = _fingerprint(c)
    old_token = c.token("worker", via=m)
    assert tls.parse_token(old_token)[0] == old_root
    assert "none in progress" in c.ok("cluster", "ca")
    tasks = sorted(t["id"] for t in c.tasks("web") if t["status"]["state"] == "running")
    containers = {n.name: sorted(x["id"] for x in c.running_containers(n)) for n in (n1, n2)}
    registered = {n.name: _registrations(n) for n in (n1, n2)}

    watch = _Watch(c)
    watch.start()
    t0 = time.monotonic()
    r = c.cli(None, "cluster", "ca", "--rotate", timeout=200)
    took = time.monotonic() - t0
    time.sleep(3)  # the nodes' second renewal (the old root leaves their bundles) happens after this
    assert r.returncode == 0, r.stderr
    assert "CA rotation done" in r.stdout and "join-token" in r.stdout, r.stdout
    new_root = _fingerprint(c)
    assert new_root != old_root and new_root in r.stdout and took < 120

    # Every certificate chains to the new root; the old one is in no trust bundle.
    poll(
        lambda: all(_on_root(_identity(n, "node"), new_root) for n in (n1, n2)),
        30,
        what="both nodes on the new root only",
    )
    poll(lambda: _on_root(_identity(m, "manager"), new_root), 30, what="the manager on the new root only")
    poll(lambda: _on_root(tls.Identity.load(local_admin), new_root), 30, what="the admin credential")  # type: ignore[arg-type]
    info = c.ok("cluster", "ca")
    assert "none in progress" in info and new_root in info and old_root not in info
    watch.stop.set()
    watch.join()

    # Nothing stopped, nobody went down or registered again.
    assert watch.states == {"ready"} and not watch.errors, (watch.states, watch.errors)
    assert watch.task_sets == {tuple(tasks)}, watch.task_sets
    assert sorted(t["id"] for t in c.tasks("web") if t["status"]["state"] == "running") == tasks
    assert {n.name: sorted(x["id"] for x in c.running_containers(n)) for n in (n1, n2)} == containers
    assert {n.name: _registrations(n) for n in (n1, n2)} == registered
    assert "registered from" not in m.manager.log().split("CA rotation started", 1)[1]
    assert "CA rotation done" in m.manager.log()

    # Joining: the token pins the new root; the old token is refused in one line; a new node joins.
    new_token = c.token("worker", via=m)
    assert tls.parse_token(new_token)[0] == new_root and new_token.rsplit("-", 1)[1] == old_token.rsplit("-", 1)[1]
    refused = _join_once(c.add_host(), m, old_token)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("svcd: ")]
    assert refused.returncode != 0 and len(errors) == 1, refused.stderr
    assert "does not present the CA named in the join token" in errors[0] and "CA rotation" in errors[0]
    n3 = c.start_node(c.add_host(), join=m)
    poll(lambda: _on_root(_identity(n3, "node"), new_root), 30, what="the new node on the new root")

    # Autolock holds: the manager's key is sealed, and the new CA key is nowhere in the clear on its disk.
    assert not os.path.exists(os.path.join(m.data_dir, "manager", "tls", "key.pem"))
    bfile = str(tmp_path / "b.svcbackup")
    bkey = c.ok("cluster", "backup", "-q", bfile).strip()
    from manager import backup as store_backup

    _, raw = sealed.unseal(sealed.read(bfile), sealed.parse_key(bkey), bfile)
    cluster = store_backup.decode(raw, bfile)["cluster"]
    assert tls.ca_digest(cluster["ca_cert_pem"]) == new_root and not cluster["ca_next_cert_pem"]
    key_lines = [line for line in cluster["ca_key_pem"].splitlines() if line and not line.startswith(b"-----")]
    for d, _, names in os.walk(m.data_dir):
        for name in names:
            path = os.path.join(d, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    data = f.read()
                assert not any(line in data for line in key_lines), f"the new CA key is in the clear in {path}"

    # Bad input, one line each; a second rotation runs while a node joins.
    for args, message in (
        (("cluster", "ca", "--detach"), "--detach goes with --rotate"),
    ):
        r = c.cli(None, *args)
        assert r.returncode != 0 and r.stderr.strip().splitlines() == [f"svc: {message}"], r.stderr
    r = run_cli("cluster", "ca", "--rotate", env={"SVC_HOST": n1.api, "SVC_TLS_DIR": local_admin})
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "cannot reach" in r.stderr, r.stderr
    worker_tls = os.path.join(n1.data_dir, "node", "tls")  # a worker's own credential may not
    r = run_cli("cluster", "ca", "--rotate", env={"SVC_HOST": m.api, "SVC_TLS_DIR": worker_tls})
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "worker" in r.stderr and _fingerprint(c) == new_root, r.stderr
    started = c.ok("cluster", "ca", "--rotate", "--detach")
    newest = re.search(r"new root (\S+)", started).group(1)  # type: ignore[union-attr]
    r = c.cli(None, "cluster", "ca", "--rotate")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "already in progress" in r.stderr
    during_token = c.token("worker", via=m)
    assert tls.parse_token(during_token)[0] == newest
    n4 = c.start_node(c.add_host(), join=m)  # with the token of the root being rotated to
    poll(lambda: "none in progress" in c.ok("cluster", "ca"), 120, what="the second rotation to finish")
    for n in (n1, n2, n3, n4):
        poll(lambda n=n: _on_root(_identity(n, "node"), newest), 30, what=f"{n.name} on the newest root")
    assert {x["state"] for x in c.json_lines("node", "ls")} == {"ready"}
    assert c.converged("web", 4)

    # A restarted manager opens its sealed, renewed identity with the unlock key and serves at once.
    c.kill9(m, "manager")
    c.start_manager(m, wait=False)
    poll(lambda: os.path.exists(os.path.join(m.run_dir, keywrap.UNLOCK_SOCKET_NAME)), 60, what="the locked manager")
    env = {"SVC_RUN_DIR": m.run_dir, "SVC_HOST": "", "SVC_TLS_DIR": ""}
    r = run_cli("cluster", "unlock", env=env, input=(unlock_key + "\n").encode())
    assert r.returncode == 0, r.stderr
    poll(lambda: _fingerprint(c) == newest, 60, what="the unlocked manager on the newest root")
    poll(lambda: c.converged("web", 4), 60, what="web after the manager's restart")


def test_ca_rotation_survives_a_leader_change(make_cluster) -> None:  # type: ignore[no-untyped-def]
    # Heartbeat 2 s: the stopped node below has 6 s before the old leader would mark it down, and a new
    # leader gives it twice that to come back.
    c = make_cluster(heartbeat=2.0)
    m1 = c.start_manager(c.add_host())
    m2, m3 = c.start_manager(c.add_host(), join=m1), c.start_manager(c.add_host(), join=m1)
    poll(lambda: c.ok("cluster", "info").count("raft ") == 3, 60, what="3 managers")
    n = c.start_node(c.add_host(), join=m1)
    c.import_image(n, c.busybox)
    poll(lambda: "busybox:latest" in _images(c, n), 30, what="the node's image")
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    poll(lambda: c.converged("web", 2), 60, what="web to run")
    leader = c.leader()
    assert leader is not None
    survivors = [h for h in (m1, m2, m3) if h is not leader]
    c.admin_host = survivors[0]  # the dead leader's credential is not reissued
    old_root = _fingerprint(c)

    # The node cannot renew while it is stopped: the rotation is still running when the leader dies.
    assert n.node is not None
    os.kill(n.node.pid, signal.SIGSTOP)
    try:
        started = c.ok("cluster", "ca", "--rotate", "-d", via=survivors[0])
        new_root = re.search(r"new root (\S+)", started).group(1)  # type: ignore[union-attr]
        c.kill9(leader, "manager")
        poll(lambda: c.leader() in survivors, 30, what="a new leader")
        info = c.ok("cluster", "ca", via=survivors[0])
        assert f"from {old_root}" in info and "node-" in info.split("Waiting for:", 1)[1], info
    finally:
        os.kill(n.node.pid, signal.SIGCONT)
    poll(lambda: "none in progress" in c.ok("cluster", "ca"), 90, what="the new leader to finish the rotation")
    assert _fingerprint(c) == new_root
    finisher = c.leader()
    assert finisher in survivors and "CA rotation done" in finisher.manager.log()  # type: ignore[union-attr]
    assert leader.manager is not None and "CA rotation done" not in leader.manager.log()
    poll(lambda: _on_root(_identity(n, "node"), new_root), 30, what="the node on the new root")
    for h in survivors:
        poll(lambda h=h: _on_root(_identity(h, "manager"), new_root), 30, what=f"{h.name} on the new root")
    c.start_manager(leader)  # back: it catches up through Raft and renews from its own store
    poll(lambda: _on_root(_identity(leader, "manager"), new_root), 60, what="the old leader on the new root")
    poll(lambda: c.converged("web", 2), 60, what="web after the leader change")


def _join_once(h: Any, m: Any, token: str) -> subprocess.CompletedProcess[str]:
    args = ["node", "--data-dir", h.data_dir, "--run-dir", h.run_dir, "--join", m.api, "--token", token,
            "--metrics-addr", "", "--bridge", h.bridge, "--subnet", h.subnet, "--cgroup-parent", h.cgroup_parent]
    return subprocess.run([sys.executable, "-m", "svcd", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": REPO})
