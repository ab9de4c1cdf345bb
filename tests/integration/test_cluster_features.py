"""Swarm behaviours on a small real cluster: health, drain, global services, updates, reasons, logs."""

from __future__ import annotations

import pytest
from helpers import poll
from test_cluster import build, per_node

pytestmark = pytest.mark.root


@pytest.fixture
def cluster(make_cluster):  # type: ignore[no-untyped-def]
    return build(make_cluster, managers=1, nodes=2)


def running_tasks(c, service: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [t for t in c.tasks(service) if t["desired_state"] == "running" and t["status"]["state"] == "running"]


def test_health_gates_running_and_unhealthy_tasks_are_replaced(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok(
        "create",
        "-d",
        "--name",
        "hc",
        "--replicas",
        "2",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "0.3s",
        "--health-retries",
        "2",
        "--health-start-period",
        "10s",
        "--restart-delay",
        "0s",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; sleep 100000",
    )
    poll(lambda: len(running_tasks(c, "hc")) == 2, 60, what="healthy tasks")
    assert all(t["status"]["health"] == "healthy" for t in running_tasks(c, "hc"))
    # Break one container's health: its task fails and a new one takes the slot.
    victim = running_tasks(c, "hc")[0]
    h = next(
        h
        for h in c.nodes()
        if f"node-{h.name}" in c.ok("node", "ls")
        and any(x["labels"].get("svc.task.id") == victim["id"] for x in c.running_containers(h))
    )
    from helpers import run_cli

    r = run_cli(
        "container", "exec", f"hc.{victim['slot']}.{victim['id']}", "rm", "/tmp/ok", env={"SVC_RUN_DIR": h.run_dir}
    )
    assert r.returncode == 0, r.stderr

    def replaced() -> bool:
        tasks = c.tasks("hc")
        old = next(t for t in tasks if t["id"] == victim["id"])
        return (
            old["status"]["state"] == "failed"
            and "unhealthy" in old["status"]["err"]
            and len(running_tasks(c, "hc")) == 2
        )

    poll(replaced, 60, what="the unhealthy task replaced")
    assert "\\_ hc." in c.ok("ps", "hc")


def test_drain_moves_tasks_and_pause_keeps_them(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    a, b = c.nodes()
    c.ok("create", "--name", "web", "--replicas", "4", "busybox", "sleep", "1000000")
    poll(lambda: per_node(c, "web") == {a.name: 2, b.name: 2}, 60, what="spread 2+2")
    c.ok("node", "update", "--availability", "drain", f"node-{a.name}")
    poll(lambda: per_node(c, "web") == {a.name: 0, b.name: 4}, 60, what="drained")
    c.ok("node", "update", "--availability", "active", f"node-{a.name}")
    c.ok("node", "update", "--availability", "pause", f"node-{b.name}")
    c.ok("scale", "web=6")
    poll(lambda: per_node(c, "web") == {a.name: 2, b.name: 4}, 60, what="new tasks avoid the paused node")


def test_global_service_runs_once_per_matching_node(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    a, _ = c.nodes()
    c.ok("node", "update", "--label-add", "zone=eu", f"node-{a.name}")
    c.ok(
        "create",
        "--name",
        "agent",
        "--mode",
        "global",
        "--constraint",
        "node.labels.zone==eu",
        "busybox",
        "sleep",
        "1000000",
    )
    poll(
        lambda: per_node(c, "agent").get(a.name) == 1 and sum(per_node(c, "agent").values()) == 1,
        60,
        what="one task on the eu node",
    )
    assert "agent   global   1/1" in " ".join(c.ok("ls").split("  ")).replace("  ", " ") or "1/1" in c.ok("ls")


def test_pending_reason_says_what_to_fix(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok("create", "-d", "--name", "big", "--reserve-memory", "100000g", "busybox", "sleep", "1")
    out = poll(lambda: (o := c.ok("ps", "big")) and "no suitable node" in o and o, 30, what="a pending reason")
    assert "insufficient memory on 2 nodes" in out
    c.ok("create", "-d", "--name", "eu", "--constraint", "node.labels.zone==mars", "busybox", "sleep", "1")
    out = poll(lambda: (o := c.ok("ps", "--no-trunc", "eu")) and "constraint" in o and o, 30, what="reason")
    assert "constraint node.labels.zone==mars not met on 2 nodes" in out
    r = c.cli(None, "scale", "big=2")  # waits, sees no progress, says why, fails
    assert "big scaled to 2" in r.stdout and r.returncode != 0
    assert "big: not converged: no suitable node (insufficient memory on 2 nodes)" in r.stderr


def test_update_rolls_out_and_rollback_returns(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok("create", "--name", "web", "--replicas", "3", "-e", "COLOR=blue", "busybox", "sleep", "1000000")
    c.ok("update", "--env-add", "COLOR=green", "web")
    poll(lambda: c.converged("web", 3), 60, what="updated tasks")
    live = [t for t in c.tasks("web") if t["desired_state"] == "running"]
    assert all("COLOR=green" in t["spec"]["env"] for t in live)
    c.ok("rollback", "web")
    poll(
        lambda: all("COLOR=blue" in t["spec"]["env"] for t in c.tasks("web") if t["desired_state"] == "running"),
        60,
        what="rolled back",
    )


def test_service_logs_from_every_node(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok(
        "create",
        "--name",
        "talk",
        "--replicas",
        "2",
        "busybox",
        "sh",
        "-c",
        "echo hello from $(hostname); sleep 100000",
    )
    out = poll(lambda: (o := c.ok("logs", "talk")) and o.count("hello from") == 2 and o, 30, what="both tasks' output")
    assert "talk.1@node-" in out and "talk.2@node-" in out
    c.ok("rm", "talk")
    poll(lambda: per_node(c, "talk") == {h.name: 0 for h in c.nodes()}, 60, what="containers removed with the service")
