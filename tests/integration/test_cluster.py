"""A real cluster on loopback: 3 managers and 2 nodes as separate processes, real containers."""

from __future__ import annotations

import collections
import os
import time

import pytest
from helpers import poll

pytestmark = pytest.mark.root


def build(make_cluster, managers: int = 3, nodes: int = 2):  # type: ignore[no-untyped-def]
    c = make_cluster()
    first = c.start_manager(c.add_host())
    for _ in range(managers - 1):
        c.start_manager(c.add_host(), join=first)
    for _ in range(nodes):
        h = c.add_host()
        c.start_node(h, join=first)
        c.import_image(h, c.busybox)
    poll(lambda: all("busybox:latest" in _images(c, h) for h in c.nodes()), 20, what="nodes to report images")
    return c


def _images(c, h) -> list[str]:  # type: ignore[no-untyped-def]
    for n in c.json_lines("node", "ls"):
        if n["description"]["hostname"] == f"node-{h.name}":
            return list(n["description"].get("images", []))
    return []


def per_node(c, service: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts: dict[str, int] = collections.Counter()
    for h in c.nodes():
        if h.node.alive():
            counts[h.name] = sum(1 for x in c.running_containers(h) if x["labels"].get("svc.service.name") == service)
    return dict(counts)


def test_create_and_scale_across_nodes(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster)
    assert "web scaled" not in c.ok("create", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000000")
    for want in (3, 7, 2):
        out = c.ok("scale", f"web={want}")
        assert f"web scaled to {want}" in out and f"web: {want}/{want} running" in out
        poll(lambda w=want: c.converged("web", w), 60, what=f"{want} real containers")
        counts = per_node(c, "web")
        assert sum(counts.values()) == want and max(counts.values()) - min(counts.values()) <= 1, counts
    # Every manager answers, followers by forwarding to the leader.
    for h in c.managers():
        assert "web" in c.ok("ls", via=h)
    nodes = c.ok("node", "ls")
    assert nodes.count("Ready") == 5 and "Leader" in nodes and nodes.count("Reachable") == 2


def test_node_killed_its_replicas_run_elsewhere_and_come_back_clean(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1)
    c.ok("create", "--name", "web", "--replicas", "4", "busybox", "sleep", "1000000")
    poll(lambda: c.converged("web", 4), 60, what="4 containers")
    victim, survivor = c.nodes()
    start = time.monotonic()
    c.kill9(victim, "node")  # its containers run on, as after a partition
    poll(lambda: c.node_state(f"node-{victim.name}") == "down", 30, what="the node marked down")
    poll(lambda: per_node(c, "web")[survivor.name] == 4, 60, what="replicas moved")
    print(f"\nnode killed -> replicas running elsewhere: {time.monotonic() - start:.1f}s")
    c.start_node(victim)
    poll(lambda: per_node(c, "web")[victim.name] == 0, 60, what="stale containers removed on return")
    poll(lambda: c.converged("web", 4), 60, what="convergence")


def test_leader_killed_during_scale(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster)
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    leader = c.leader()
    assert leader is not None
    c.ok("scale", "-d", "web=12", via=leader)
    c.kill9(leader, "manager")
    start = time.monotonic()
    others = [h for h in c.managers() if h is not leader]
    poll(lambda: c.cli(others[0], "cluster", "info").returncode == 0, 30, what="a new leader")
    print(f"\nleader killed -> control API answers again: {time.monotonic() - start:.1f}s")
    poll(lambda: c.converged("web", 12), 90, what="12 containers, one per slot")
    tasks = [t for t in c.tasks("web") if t["desired_state"] == "running"]
    slots = [t["slot"] for t in tasks]
    assert len(slots) == len(set(slots)) == 12


def test_all_managers_restart_with_state_intact(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, nodes=1)
    c.ok("create", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000000")
    c.ok("create", "--name", "api", "--replicas", "2", "--constraint", "node.role!=manager", "busybox", "sleep", "9999")
    poll(lambda: c.converged("web", 3) and c.converged("api", 2), 60, what="both services")

    def state() -> list[tuple[str, str, str, int]]:
        return sorted(
            (t["service_name"], t["id"], t["node_id"], t["slot"])
            for s in ("web", "api")
            for t in c.tasks(s)
            if t["desired_state"] == "running"
        )

    before = state()
    for h in c.managers():
        c.kill9(h, "manager")
    for h in c.managers():
        c.start_manager(h, wait=False)
    poll(lambda: c.cli(None, "cluster", "info").returncode == 0, 60, what="managers back")
    poll(lambda: state() == before, 60, what="the same tasks")
    assert c.converged("web", 3) and c.converged("api", 2)


def test_bad_input_is_refused_with_one_line(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    c.start_manager(c.add_host())
    cases = [
        (["create", "--name", "bad name", "busybox"], "invalid service name"),
        (["create", "--replicas", "-1", "busybox"], "invalid replicas"),
        (["create", "--constraint", "node.zone=eu", "busybox"], "malformed constraint"),
        (["create", "--constraint", "node.color==red", "busybox"], "unknown constraint key"),
        (["create", "--limit-memory", "lots", "busybox"], "invalid memory limit"),
        (["create", "--reserve-cpu", "x", "busybox"], "invalid CPU count"),
        (["create", "-p", "80:99999", "busybox"], "ports are numbers from 1 to 65535"),  # `-p 80` alone: a port picked
        (["create", "BadImage"], "invalid image reference"),
        (["scale", "web=five"], "invalid replicas 'five'"),
        (["scale", "web"], "use SERVICE=REPLICAS"),
        (["scale", "nosuch=3"], "no such service: nosuch"),
        (["ps", "nosuch"], "no such service: nosuch"),
        (["node", "update", "--availability", "sleepy", "x"], "invalid availability"),
        (["node", "inspect", "nosuch"], "no such node: nosuch"),
    ]
    for args, message in cases:
        r = c.cli(None, *args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert c.ok("ls", "-q") == ""


def test_demoted_manager_leaves_and_the_cluster_goes_on(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=3, nodes=1)
    leader = c.leader()
    follower = next(h for h in c.managers() if h is not leader)
    r = c.cli(leader, "node", "demote", f"mgr-{follower.name}")
    assert r.returncode == 0, r.stderr
    poll(lambda: not follower.manager.alive(), 30, what="the demoted manager to stop itself")
    nodes = c.json_lines("node", "ls")
    assert sum(1 for n in nodes if n["role"] == "manager") == 2
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000", via=leader)
    assert "demoted" in follower.manager.log()
    follower.manager = None  # nothing to stop at teardown


def test_promote_a_node_then_demote_it(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=2)
    worker = c.nodes()[1]
    c.ok("node", "promote", f"node-{worker.name}")

    def status() -> str:
        for n in c.json_lines("node", "ls"):
            if n["description"]["hostname"] == f"node-{worker.name}":
                ms = n.get("manager_status") or {}
                return f"{n['role']}/{ms.get('reachability', '')}"
        return ""

    poll(lambda: status() == "manager/reachable", 60, what="the promoted node to be a reachable manager")
    assert "promoted" in worker.node.log()
    # The new manager answers the control API itself (it is a follower: it forwards).
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000", via=worker)
    c.ok("node", "demote", f"node-{worker.name}")
    poll(lambda: status() == "worker/", 60, what="the node to be a worker again")
    poll(lambda: "its manager stopped; the node goes on" in worker.node.log(), 30, what="the local manager to stop")
    assert c.node_state(f"node-{worker.name}") == "ready"
    poll(lambda: c.converged("web", 2), 60, what="the service running")
    # Its certificate still says "manager" until renewed, but the store's role is what counts.
    from helpers import run_cli

    r = run_cli(
        "ls", env={"SVC_HOST": c.managers()[0].api, "SVC_TLS_DIR": os.path.join(worker.data_dir, "manager", "tls")}
    )
    assert r.returncode != 0 and "role worker may not call ListServices" in r.stderr
