"""PlanPlacement's pure part: a deploy's placements planned on a snapshot, nothing written."""

from __future__ import annotations

from clusterfixtures import bump, node, service, snap, task

from manager.placementplan import answer, plan
from manager.servicespec import validate
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb


def spec(name: str, replicas: int = 3, image: str = "busybox", **placement: list[str]) -> cpb.ServiceSpec:
    s = cpb.ServiceSpec(name=name, replicas=replicas, task=pb.ContainerSpec(image=image))
    s.placement.constraints.extend(placement.get("constraints", []))
    return s


def test_a_new_service_spreads_around_existing_tasks() -> None:
    other = service("other", replicas=2)
    running = [task(other, 1, "n-a"), task(other, 2, "n-a")]
    before = snap([node("a"), node("b")], [other], running)
    [p] = plan(before, [spec("app_web", 3)], now=0.0)
    assert dict(p.nodes) == {"b": 2, "a": 1} and not p.unplaced and not p.refused
    assert list(before.services) == ["s-other"] and len(before.tasks) == 2  # nothing written


def test_tasks_that_fit_nowhere_say_why() -> None:
    nodes = [node("a", labels={"zone": "us"}), node("b", labels={"zone": "us"})]
    [p] = plan(snap(nodes, [], []), [spec("app_db", 1, constraints=["node.labels.zone==eu"])], now=0.0)
    assert not p.nodes
    assert dict(p.unplaced) == {"no suitable node (constraint node.labels.zone==eu not met on 2 nodes)": 1}


def test_an_update_without_a_new_template_places_only_the_added_replicas() -> None:
    web = service("app_web", replicas=2)
    web = bump(web, spec=validate(web.spec))  # as stored
    tasks = [task(web, 1, "n-a"), task(web, 2, "n-b")]
    scaled = cpb.ServiceSpec()
    scaled.CopyFrom(web.spec)
    scaled.replicas = 3
    [p] = plan(snap([node("a"), node("b"), node("c")], [web], tasks), [scaled], now=0.0)
    assert dict(p.nodes) == {"c": 1}


def test_a_new_template_replaces_every_task_and_frees_their_nodes() -> None:
    web = service("app_web", replicas=2, reserve_mem=3 << 30)
    web = bump(web, spec=validate(web.spec))
    tasks = [task(web, 1, "n-a"), task(web, 2, "n-b")]
    changed = cpb.ServiceSpec()
    changed.CopyFrom(web.spec)
    changed.task.env.append("V=2")
    [p] = plan(snap([node("a"), node("b")], [web], tasks), [changed], now=0.0)
    assert dict(p.nodes) == {"a": 1, "b": 1} and not p.unplaced


def test_specs_of_one_deploy_compete_and_refusals_are_per_spec() -> None:
    a = spec("app_a", 2)
    a.reservations.memory_bytes = 3 << 30
    b = spec("app_b", 1)
    b.reservations.memory_bytes = 3 << 30
    bad = spec("app_bad", 1)
    bad.mode = "sideways"
    out = answer(snap([node("a"), node("b")], [], []), [a, bad, b], now=0.0)
    assert [s.service for s in out.services] == ["app_a", "app_bad", "app_b"]
    assert dict(out.services[0].nodes) == {"a": 1, "b": 1}
    assert "invalid mode" in out.services[1].refused
    assert not out.services[2].nodes and "insufficient memory on 2 nodes" in next(iter(out.services[2].unplaced))


def test_a_global_service_gets_one_task_per_eligible_node() -> None:
    g = spec("app_agent", 0)
    g.mode = "global"
    nodes = [node("a"), node("b"), node("c", availability="drain")]
    [p] = plan(snap(nodes, [], []), [g], now=0.0)
    assert dict(p.nodes) == {"a": 1, "b": 1}
