"""The decisions of a waiting `svc create|scale|update|rollback` (waitplan), and global desired counts."""

from __future__ import annotations

from svc.cli import waitplan
from svc.v1 import cluster_pb2 as cpb


def spec(**kw: object) -> cpb.ServiceSpec:
    s = cpb.ServiceSpec(name="web", replicas=2)
    s.task.image = "busybox:latest"
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_changed_by_another() -> None:
    assert waitplan.changed_by_another(spec(), spec()) == ""
    assert waitplan.changed_by_another(spec(), spec(replicas=8)) == "replicas changed to 8 by another update"
    other = spec()
    other.task.image = "alpine:3"
    assert waitplan.changed_by_another(spec(), other) == "image changed to alpine:3 by another update"
    other = spec()
    other.task.env.append("A=1")
    assert waitplan.changed_by_another(spec(), other) == "changed by another update"
    assert waitplan.changed_by_another(spec(mode="global", replicas=0), spec(mode="global", replicas=0)) == ""


def task(tid: str, state: str, created: float, err: str = "", slot: int = 1, desired: str = "running") -> cpb.Task:
    t = cpb.Task(id=tid, service_name="web", slot=slot, created_at=created, desired_state=desired, node_id="n" * 20)
    t.status.state, t.status.err, t.status.timestamp = state, err, created + 1
    return t


def test_first_failure_counts_only_tasks_made_for_this_write() -> None:
    old = task("a", "failed", 10.0, "exit 1")
    assert waitplan.first_failure([old], since=20.0) == ""
    assert waitplan.first_failure([task("b", "failed", 20.0)], since=20.0) == ""  # no reason: keep waiting
    tasks = [old, task("c", "running", 21.0), task("d", "rejected", 22.0, "no such image: nosuch", slot=2)]
    assert waitplan.first_failure(tasks, since=20.0) == "task web.2 rejected: no such image: nosuch"
    g = task("e", "failed", 25.0, "exit status 3", slot=0)
    assert waitplan.first_failure([g], since=20.0) == "task web.nnnnnnnnnnnn failed: exit status 3"


def test_converged() -> None:
    svc = cpb.Service(running=2, desired=2)
    assert waitplan.converged(svc, [task("a", "running", 1), task("b", "running", 1)])
    assert not waitplan.converged(cpb.Service(running=1, desired=2), [])
    # Scaled down: the surplus task still runs on its node, so not yet.
    assert not waitplan.converged(svc, [task("c", "running", 1, desired="shutdown")])
    assert waitplan.converged(svc, [task("c", "shutdown", 1, desired="shutdown")])
    # A global service with no eligible node desires nothing: done.
    assert waitplan.converged(cpb.Service(running=0, desired=0), [])


def test_a_global_service_desires_one_task_per_eligible_node() -> None:
    from dataclasses import replace

    from clusterfixtures import node, service, snap, task

    from manager import views

    nodes = [node("a"), node("b", labels={"zone": "eu"}), node("c", availability="drain"), node("d", state="down")]
    manager_only = node("m", role="manager")
    manager_only = replace(manager_only, description=cpb.NodeDescription(hostname="m"))  # no engine
    glob = service("glob", mode="global", replicas=0)
    eu = service("eu", mode="global", replicas=0, constraints=["node.labels.zone==eu"])
    # Just created: no task yet, yet it desires two (a wait for 0/0 would end before anything ran).
    counts = views.service_counts(snap([*nodes, manager_only], [glob, eu], []))
    assert counts[glob.id] == (0, 2) and counts[eu.id] == (0, 1)
    counts = views.service_counts(snap([*nodes, manager_only], [glob], [task(glob, 0, node_id="n-a")]))
    assert counts[glob.id] == (1, 2)
