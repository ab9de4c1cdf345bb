"""Placement preferences (`--placement-pref spread=node.labels.zone`) in the pure scheduler: tasks spread
over the label's values first, then over the nodes of each value, as Swarm's."""

from __future__ import annotations

import collections

from clusterfixtures import node, service, snap, task

from manager.scheduler import schedule
from manager.store.objects import PENDING


def spread_service(replicas: int, *labels: str):  # type: ignore[no-untyped-def]
    svc = service(replicas=replicas)
    for label in labels:
        svc.spec.placement.preferences.add(spread=label)
    return svc


def placed(svc, nodes, existing=()):  # type: ignore[no-untyped-def]
    new = [task(svc, s, state=PENDING) for s in range(len(existing) + 1, svc.spec.replicas + 1)]
    placements, unplaced = schedule(snap(nodes, [svc], [*existing, *new]), new)
    assert not unplaced
    return collections.Counter(p.node_id for p in placements)


def test_tasks_spread_over_the_zones_before_the_nodes() -> None:
    # zone a has three nodes, zone b one: plain spread would put 3 of 4 tasks in a; the preference 2 and 2
    nodes = [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}), node("a3", labels={"zone": "a"})]
    nodes.append(node("b1", labels={"zone": "b"}))
    counts = placed(spread_service(4, "node.labels.zone"), nodes)
    assert counts["n-b1"] == 2 and sum(counts[f"n-a{i}"] for i in (1, 2, 3)) == 2
    assert max(counts[f"n-a{i}"] for i in (1, 2, 3)) == 1  # then over the nodes within zone a
    plain = placed(service(replicas=4), nodes)
    assert plain["n-b1"] == 1


def test_nodes_without_the_label_are_a_group_of_their_own() -> None:
    nodes = [node("a1", labels={"zone": "a"}), node("x1"), node("x2")]
    counts = placed(spread_service(4, "node.labels.zone"), nodes)
    assert counts["n-a1"] == 2 and counts["n-x1"] + counts["n-x2"] == 2


def test_existing_tasks_count_and_preferences_nest() -> None:
    nodes = [
        node("a1", labels={"zone": "a", "rack": "1"}),
        node("a2", labels={"zone": "a", "rack": "2"}),
        node("b1", labels={"zone": "b", "rack": "1"}),
    ]
    svc = spread_service(4, "node.labels.zone", "node.labels.rack")
    existing = [task(svc, 1, "n-b1"), task(svc, 2, "n-b1")]
    counts = placed(svc, nodes, existing)
    assert counts == {"n-a1": 1, "n-a2": 1}  # zone a was behind by two; within it, one per rack


def test_engine_labels_spread_too() -> None:
    a, b = node("a"), node("b")
    a.description.engine_labels["disk"] = "ssd"
    b.description.engine_labels["disk"] = "hdd"
    counts = placed(spread_service(2, "engine.labels.disk"), [a, b, node("c")])
    assert len(counts) == 2 and all(n == 1 for n in counts.values())  # two of three groups, one task each
