"""The scheduler as a pure function: filters with reasons, then spread."""

from __future__ import annotations

import collections

from clusterfixtures import node, service, snap, task

from manager.scheduler import schedule
from manager.store.objects import NODE_DOWN, PENDING


def pending(svc, n):  # type: ignore[no-untyped-def]
    return [task(svc, s, state=PENDING) for s in range(1, n + 1)]


def test_spread_evenly_over_nodes() -> None:
    svc = service(replicas=7)
    tasks = pending(svc, 7)
    placements, unplaced = schedule(snap([node("a"), node("b"), node("c")], [svc], tasks), tasks)
    counts = collections.Counter(p.node_id for p in placements)
    assert not unplaced and sorted(counts.values()) == [2, 2, 3]


def test_spread_counts_existing_tasks() -> None:
    svc = service(replicas=3)
    running = [task(svc, 1, "n-a"), task(svc, 2, "n-a")]
    new = [task(svc, 3, state=PENDING)]
    placements, _ = schedule(snap([node("a"), node("b")], [svc], [*running, *new]), new)
    assert placements[0].node_id == "n-b"


def test_reasons_name_what_to_fix() -> None:
    svc = service(replicas=1, constraints=["node.labels.zone==eu"], reserve_mem=8 << 30)
    nodes = [node("a", labels={"zone": "eu"}, mem_gb=4), node("b", labels={"zone": "us"}), node("c", state=NODE_DOWN)]
    tasks = pending(svc, 1)
    placements, unplaced = schedule(snap(nodes, [svc], tasks), tasks)
    assert not placements
    assert unplaced[tasks[0].id] == (
        "no suitable node (constraint node.labels.zone==eu not met on 1 node; insufficient memory on 1 node; "
        "node down on 1 node)"
    )


def test_reservations_fill_up_nodes() -> None:
    svc = service(replicas=5, reserve_mem=1 << 30)
    tasks = pending(svc, 5)
    placements, unplaced = schedule(snap([node("a", mem_gb=2), node("b", mem_gb=2)], [svc], tasks), tasks)
    assert len(placements) == 4 and len(unplaced) == 1
    assert "insufficient memory on 2 nodes" in next(iter(unplaced.values()))


def test_max_replicas_per_node_and_missing_image() -> None:
    svc = service(replicas=3, max_per_node=1)
    tasks = pending(svc, 3)
    a, b = node("a"), node("b")
    b.description.images[:] = []
    placements, unplaced = schedule(snap([a, b], [svc], tasks), tasks)
    assert len(placements) == 1
    reason = next(iter(unplaced.values()))
    assert "max replicas per node (1) on 1 node" in reason and "image busybox not on node on 1 node" in reason


def test_published_host_ports_do_not_collide() -> None:
    from svc.v1 import container_pb2 as pb

    svc = service(replicas=3)
    svc.spec.task.ports.append(pb.PortMapping(host_port=8080, container_port=80))
    tasks = pending(svc, 3)
    placements, unplaced = schedule(snap([node("a"), node("b")], [svc], tasks), tasks)
    assert sorted(p.node_id for p in placements) == ["n-a", "n-b"]
    assert "host port 8080/tcp in use on 2 nodes" in next(iter(unplaced.values()))


PINNED = "127.0.0.1:5000/web:1@sha256:" + "ab" * 32


def test_a_pinned_digest_runs_anywhere_and_prefers_nodes_that_hold_it() -> None:
    svc = service(replicas=3)
    svc.spec.task.image = PINNED
    a, b = node("a"), node("b")
    for n in (a, b):
        n.description.images[:] = []
    b.description.images.append("127.0.0.1:5000/web@sha256:" + "ab" * 32)  # how a node lists a pulled digest
    tasks = pending(svc, 3)
    placements, unplaced = schedule(snap([a, b], [svc], tasks), tasks)
    counts = collections.Counter(p.node_id for p in placements)
    assert not unplaced and counts == {"n-b": 2, "n-a": 1}  # spread first; the holder breaks the tie


def test_a_tag_no_node_holds_is_pulled_by_every_node() -> None:
    svc = service(replicas=2)
    svc.spec.task.image = "127.0.0.1:5000/web:1"
    tasks = pending(svc, 2)
    placements, unplaced = schedule(snap([node("a"), node("b")], [svc], tasks), tasks)
    assert not unplaced and {p.node_id for p in placements} == {"n-a", "n-b"}


def test_a_tag_some_node_holds_runs_only_there() -> None:
    svc = service(replicas=2)  # busybox: imported on a only, the cluster's own image
    a, b = node("a"), node("b")
    b.description.images[:] = []
    tasks = pending(svc, 2)
    placements, unplaced = schedule(snap([a, b], [svc], tasks), tasks)
    assert not unplaced and {p.node_id for p in placements} == {"n-a"}
