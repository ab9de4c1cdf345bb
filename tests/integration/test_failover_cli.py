"""Failover seen from the CLI (issue #11, item 4): the leader killed under commands sent to a follower.

The follower retries its forward on the next leader, the CLI's wait reads through the election,
and an error names the manager that failed, never the live follower the CLI talks to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from helpers import REPO, poll

pytestmark = pytest.mark.root


def build(make_cluster: Any, nodes: int) -> Any:
    c = make_cluster()
    first = c.start_manager(c.add_host())
    for _ in range(2):
        c.start_manager(c.add_host(), join=first)
    for _ in range(nodes):
        h = c.add_host()
        c.start_node(h, join=first)
        c.import_image(h, c.busybox)
    return c


def leader_and_follower(c: Any) -> tuple[Any, Any]:
    leader = poll(c.leader, 30, what="a leader")
    return leader, next(h for h in c.managers() if h is not leader)


def svc_async(c: Any, via: Any, *args: str, out: str, go: str | None = None) -> subprocess.Popen[bytes]:
    """`svc ARGS` in the background, its stdout going unbuffered to the file `out`.

    With `go`, the CLI loads its modules first, writes `out + ".ready"` and runs only once the file
    `go` exists: so it runs within milliseconds of a fault, not after a second of Python start-up.
    """
    env = {**os.environ, "SVC_HOST": via.api, "SVC_TLS_DIR": c.admin_dir(), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "svc", *args]
    if go is not None:
        primed = (
            "import os, sys, time, grpc, svc.control, svc.cli.service, svc.v1.control_pb2_grpc\n"
            "from svc.cli.main import main\n"
            f"open({out + '.ready'!r}, 'w').close()\n"
            f"while not os.path.exists({go!r}): time.sleep(0.002)\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        cmd = [sys.executable, "-c", primed, *args]
    with open(out, "wb") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.PIPE, env=env, cwd=REPO)


def test_scale_through_a_follower_survives_the_leader_killed(make_cluster: Any, tmp_path: Any) -> None:
    c = build(make_cluster, nodes=2)
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    poll(lambda: c.converged("web", 2), 60, what="2 containers")
    leader, follower = leader_and_follower(c)
    out = str(tmp_path / "scale.out")
    proc = svc_async(c, follower, "scale", "web=12", out=out)
    poll(lambda: "web scaled to 12" in open(out).read(), 60, what="the scale written")
    c.kill9(leader, "manager")  # while the CLI waits for 12: its reads go through the follower
    start = time.monotonic()
    _, err = proc.communicate(timeout=300)
    print(f"\nleader killed -> svc scale done: {time.monotonic() - start:.1f}s")
    stdout = open(out).read()
    assert proc.returncode == 0, f"stdout: {stdout}\nstderr: {err.decode()}"
    assert "web scaled to 12" in stdout and "web: 12/12 running" in stdout, stdout
    assert not err.strip(), err.decode()
    # The wait really went through the failover: the follower retried reads on the new leader.
    assert "retrying on the next leader" in open(follower.manager.log_path).read()
    poll(lambda: c.converged("web", 12), 90, what="12 containers, one per slot")


def test_reads_through_a_follower_right_after_the_leader_is_killed(make_cluster: Any, tmp_path: Any) -> None:
    c = build(make_cluster, nodes=1)
    c.ok("create", "--name", "web", "--replicas", "1", "busybox", "sleep", "1000000")
    leader, follower = leader_and_follower(c)
    go = str(tmp_path / "go")
    reads = [["ls"], ["node", "ls"], ["ps", "web"], ["cluster", "info"]]
    outs = [str(tmp_path / f"read{i}.out") for i in range(len(reads))]
    procs = [svc_async(c, follower, *args, out=out, go=go) for args, out in zip(reads, outs, strict=True)]
    poll(lambda: all(os.path.exists(out + ".ready") for out in outs), 60, what="the CLIs loaded")
    c.kill9(leader, "manager")
    open(go, "w").close()  # every read at once, while the follower's Raft still names the dead leader
    for args, proc in zip(reads, procs, strict=True):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"svc {' '.join(args)}: {err.decode()}"
        assert not err.strip(), err.decode()
    assert "web" in open(outs[0]).read() and "web.1" in open(outs[2]).read()
    assert open(outs[1]).read().count("mgr-") == 3
    assert "retrying on the next leader" in open(follower.manager.log_path).read()


def test_an_error_names_the_leader_that_failed_not_the_follower(make_cluster: Any) -> None:
    c = build(make_cluster, nodes=0)
    leader, follower = leader_and_follower(c)
    third = next(h for h in c.managers() if h not in (leader, follower))
    c.kill9(third, "manager")
    c.kill9(leader, "manager")  # no quorum left: the follower's Raft keeps naming the dead leader
    start = time.monotonic()
    r = c.cli(follower, "ls")
    took = time.monotonic() - start
    print(f"\nsvc ls with no leader: {r.stderr.strip()!r} after {took:.1f}s")
    assert r.returncode != 0
    assert r.stderr.startswith(f"svc: leader {leader.api} is unreachable: connection refused"), r.stderr
    assert follower.api not in r.stderr and "cannot reach" not in r.stderr
    assert "failed to connect to all addresses" not in r.stderr
