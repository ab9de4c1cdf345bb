"""Place pending tasks on nodes (pure: a snapshot in, placements and reasons out).

Filters, in Swarm's order, each with an explanation a person can act on: node ready and
active; the node runs an engine; constraints; CPU and memory reservations against what the
node has left; max replicas per node; the image is on the node where only some nodes can have it
(image_required). Among the nodes that pass, spread: over the values of each placement preference's
label first (_Spread), then fewest tasks of this service, then a node that holds the image, then
fewest tasks in total. Counts are updated as the batch is placed, so one pass spreads a whole
scale-up evenly.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from svc import reference
from svc.ports import is_host

from . import constraints
from .store.objects import ACTIVE, NODE_READY, RUNNING, NodeObj, ServiceObj, TaskObj, is_terminal
from .store.state import Snapshot


@dataclass
class NodeLoad:
    node: NodeObj
    images: frozenset[str]
    cpu_free: int
    mem_free: int
    total: int = 0
    by_service: collections.Counter[str] = field(default_factory=collections.Counter)
    ports: set[tuple[str, int]] = field(default_factory=set)  # published (protocol, host port)


PORT_IN_USE = "host port"  # how a refusal for a taken published port starts (manager/rollout.py reads it)


@dataclass(frozen=True)
class Placement:
    task_id: str
    node_id: str


def occupies(task: TaskObj) -> bool:
    """Whether a task holds resources on its node (it runs, or is about to)."""
    return bool(task.node_id) and task.desired_state == RUNNING and not is_terminal(task.state)


def host_ports(spec: Any) -> set[tuple[str, int]]:
    """The ports a task takes on its node: host mode only (an ingress port is the routing mesh's)."""
    return {(p.protocol or "tcp", p.host_port) for p in spec.ports if p.host_port and is_host(p)}


def _loads(snap: Snapshot) -> dict[str, NodeLoad]:
    loads = {}
    for node in snap.nodes.values():
        d = node.description
        images = set()
        for ref in d.images:
            try:
                images.add(reference.normalize(ref))
            except Exception:
                images.add(ref)
        loads[node.id] = NodeLoad(node, frozenset(images), d.nano_cpus, d.memory_bytes)
    for task in snap.tasks.values():
        load = loads.get(task.node_id)
        if load is None or not occupies(task):
            continue
        load.total += 1
        load.by_service[task.service_id] += 1
        if task.spec.ports:
            load.ports |= host_ports(task.spec)
        svc = snap.services.get(task.service_id)
        if svc is not None:
            load.cpu_free -= svc.spec.reservations.nano_cpus
            load.mem_free -= svc.spec.reservations.memory_bytes
    return loads


def image_key(image: str) -> str:
    """How nodes list an image: `NAME@sha256:…` for one pinned by digest, else `NAME:TAG`."""
    if "@" in image:
        return reference.repo_digest(image)
    try:
        return reference.normalize(image)
    except Exception:
        return image


def image_required(image: str, key: str, loads: Iterable[NodeLoad]) -> str:
    """The image a node must already hold to take the service's tasks ('' if any node may pull it).

    A pinned digest is the same bytes from any source, so every node may pull it. A bare tag held by
    some node is an image of the cluster's own (imported, or pulled before): only those nodes run
    it, since another node's pull of the tag could fetch different bytes or nothing at all. A tag no
    node holds is pulled by each node that gets a task.
    """
    if "@" in image or not any(key in load.images for load in loads if load.node.description.runtime):
        return ""
    return key


def _static_refusal(load: NodeLoad, cons: list[constraints.Constraint], image: str, image_ref: str) -> str:
    """Why this node cannot take any task of the service, whatever else is placed ('' if it can)."""
    node = load.node
    if node.state != NODE_READY:
        return "node down" if node.state == "down" else "node not ready"
    if node.availability != ACTIVE:
        return f"node {node.availability}"
    if not node.description.runtime:
        return "no engine"
    for c in cons:
        if not c.matches(node):
            return f"constraint {c} not met"
    if image and image not in load.images:
        return f"image {image_ref} not on node"
    return ""


def _dynamic_refusal(load: NodeLoad, svc: ServiceObj, ports: set[tuple[str, int]]) -> str:
    """Why this node cannot take one more task of `svc` now (what placing tasks uses up)."""
    res = svc.spec.reservations
    if res.memory_bytes and load.mem_free < res.memory_bytes:
        return "insufficient memory"
    if res.nano_cpus and load.cpu_free < res.nano_cpus:
        return "insufficient CPU"
    limit = svc.spec.placement.max_replicas_per_node
    if limit and load.by_service[svc.id] >= limit:
        return f"max replicas per node ({limit})"
    taken = ports & load.ports
    if taken:
        proto, port = min(taken)
        return f"{PORT_IN_USE} {port}/{proto} in use"
    return ""


def explain(refusals: Iterable[str]) -> str:
    counts = collections.Counter(refusals)
    if not counts:
        return "no suitable node (no nodes)"
    parts = [f"{why} on {n} node{'s' if n != 1 else ''}" for why, n in sorted(counts.items())]
    return f"no suitable node ({'; '.join(parts)})"


def _take(load: NodeLoad, svc: ServiceObj, ports: set[tuple[str, int]]) -> None:
    load.total += 1
    load.by_service[svc.id] += 1
    load.ports |= ports
    load.cpu_free -= svc.spec.reservations.nano_cpus
    load.mem_free -= svc.spec.reservations.memory_bytes


class _Spread:
    """Placement preferences (`spread=node.labels.zone`, in order), as Swarm's: the service's tasks on each
    value's nodes, per level, so that a task goes to the value (then sub-value) holding the fewest;
    nodes without the label are a group of their own. Counts only grow, as the heap's lazy check needs."""

    def __init__(self, svc: ServiceObj, candidates: list[NodeLoad]) -> None:
        self.service_id = svc.id
        self.labels = [p.spread for p in svc.spec.placement.preferences]
        self.groups: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.paths: dict[str, list[tuple[str, ...]]] = {}
        for load in candidates:
            for group in self._path(load):
                self.groups[group] += load.by_service[self.service_id]

    def _path(self, load: NodeLoad) -> list[tuple[str, ...]]:
        path = self.paths.get(load.node.id)
        if path is None:
            values = tuple(constraints.node_value(load.node, label) or "" for label in self.labels)
            path = self.paths[load.node.id] = [values[: i + 1] for i in range(len(values))]
        return path

    def counts(self, load: NodeLoad) -> list[int]:
        return [self.groups[group] for group in self._path(load)] if self.labels else []

    def take(self, load: NodeLoad) -> None:
        for group in self._path(load) if self.labels else ():
            self.groups[group] += 1


def schedule(snap: Snapshot, pending: list[TaskObj]) -> tuple[list[Placement], dict[str, str]]:
    """Place `pending` tasks. Returns placements and, for tasks that fit nowhere, the reason.

    Per service, the static filters run once per node; then a heap ordered by the spread rule
    (fewest tasks of this service, then fewest in total) yields the next node, and only what
    placing uses up (resources, max per node, host ports) is checked per task: O(T log N).
    """
    loads = _loads(snap)
    placements: list[Placement] = []
    unplaced: dict[str, str] = {}
    by_service: dict[str, list[TaskObj]] = collections.defaultdict(list)
    for t in pending:
        by_service[t.service_id].append(t)
    for service_id, tasks in by_service.items():
        svc = snap.services.get(service_id)
        if svc is None:
            continue
        cons = constraints.parse_all(list(svc.spec.placement.constraints))
        image = image_key(svc.spec.task.image)
        required = image_required(svc.spec.task.image, image, loads.values())
        ports = host_ports(svc.spec.task)
        # A manager without an engine is no candidate, and no news either.
        static = {
            nid: _static_refusal(load, cons, required, svc.spec.task.image)
            for nid, load in loads.items()
            if load.node.description.runtime
        }
        static_refusals = [why for why in static.values() if why]
        dynamic_refusals: dict[str, str] = {}

        spread = _Spread(svc, [loads[nid] for nid, why in static.items() if not why])

        def key(load: NodeLoad, sid: str = service_id, image: str = image, spread: _Spread = spread) -> tuple[Any, ...]:
            # the preferences' groups, then spread over nodes; among equals, a node with the image saves a pull
            counts = spread.counts(load)
            return (
                *counts,
                load.by_service[sid],
                image not in load.images,
                load.total,
                load.node.hostname,
                load.node.id,
            )

        heap = [key(loads[nid]) for nid, why in static.items() if not why]
        heapq.heapify(heap)
        for task in sorted(tasks, key=lambda t: (t.slot, t.id)):
            if task.node_id:  # global tasks are born on their node: only check it still fits
                load = loads.get(task.node_id)
                why = (static.get(task.node_id) or _dynamic_refusal(load, svc, ports)) if load else "node gone"
                if why:
                    unplaced[task.id] = explain([why])
                else:
                    _take(load, svc, ports)  # type: ignore[arg-type]
                    placements.append(Placement(task.id, task.node_id))
                continue
            while heap:
                load = loads[heap[0][-1]]
                fresh = key(load)
                if fresh != heap[0]:  # other placements made this node busier since it was pushed
                    heapq.heapreplace(heap, fresh)
                    continue
                why = _dynamic_refusal(load, svc, ports)
                if why:  # only gets worse within this pass: drop it for this service
                    heapq.heappop(heap)
                    dynamic_refusals[load.node.id] = why
                    continue
                _take(load, svc, ports)
                spread.take(load)
                heapq.heapreplace(heap, key(load))
                placements.append(Placement(task.id, load.node.id))
                break
            else:
                unplaced[task.id] = explain(static_refusals + list(dynamic_refusals.values()))
    return placements, unplaced


def eligible_for_global(snap: Snapshot, svc: ServiceObj) -> list[NodeObj]:
    """Nodes a global service should run on: ready, active, with an engine, meeting constraints."""
    cons = constraints.parse_all(list(svc.spec.placement.constraints))
    return [
        n
        for n in snap.nodes.values()
        if n.state == NODE_READY
        and n.availability == ACTIVE
        and n.description.runtime
        and all(c.matches(n) for c in cons)
    ]
