"""Where a deploy's tasks would go, without writing anything (pure: a snapshot and specs in, counts out).

`svc stack deploy --dry-run` (PlanPlacement) asks the leader: each spec is checked and completed as
CreateService/UpdateService would (servicespec.validate, portalloc.assign, the image pinned to a
digest the nodes hold, an update's registry credentials kept), its service added to the snapshot
(an existing one by name replaced), then one leader round is run on it as roundplan does: the
orchestrator says which tasks to create, the scheduler places them with those still waiting, every
existing task counting where it runs. An update that changes the task template is planned as its
rollout's end: all its tasks new, its old ones no longer holding their nodes. No registry lookup
(a tag whose lookup would find a new digest is not known to replace tasks), and services that
`--prune` removes still count (a deploy removes them last).
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field, replace

from svc.errors import InvalidArgument, SvcError
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import control_pb2 as ctl

from . import orchestrator, portalloc, roundplan, scheduler, servicespec
from .imagepin import Holding, held_digest
from .store.objects import ACTIVE, NODE_READY, ServiceObj
from .store.state import Snapshot
from .store.state import _template_changed as template_changed


@dataclass
class ServicePlan:
    service: str
    nodes: collections.Counter[str] = field(default_factory=collections.Counter)  # hostname -> new tasks
    unplaced: collections.Counter[str] = field(default_factory=collections.Counter)  # reason -> tasks
    refused: str = ""  # why the managers would refuse the spec


def _pinned(snap: Snapshot, spec: cpb.ServiceSpec) -> None:
    """The image as the leader would pin it from the nodes' own copies (imagepin.held_digest), in place."""
    held = [
        Holding(frozenset(n.description.images), n.state == NODE_READY and n.availability == ACTIVE)
        for n in snap.nodes.values()
        if n.description.runtime
    ]
    local = held_digest(spec.task.image, held)
    if local is not None:
        spec.task.image = local.image


def _hypothetical(snap: Snapshot, spec: cpb.ServiceSpec, new_id: str) -> ServiceObj:
    """The service as the managers would store `spec`; InvalidArgument where they would refuse it."""
    spec = servicespec.validate(spec)
    current = next((s for s in snap.services.values() if s.name == spec.name), None)
    others = (s.spec for s in snap.services.values() if s is not current)
    portalloc.assign(spec, others, current.spec if current else None)
    if current is None:
        _pinned(snap, spec)
        return ServiceObj(id=new_id, spec=spec)
    if current.is_global != (spec.mode == "global"):
        raise InvalidArgument("a service's mode (replicated or global) cannot change")
    if not spec.HasField("registry_auth") and current.spec.HasField("registry_auth"):
        spec.registry_auth.CopyFrom(current.spec.registry_auth)
    if spec.task.image != current.spec.task.image:
        _pinned(snap, spec)
    bump = template_changed(current.spec, spec)
    return replace(current, spec=spec, spec_version=current.spec_version + bump, update_status=None)


def plan(snap: Snapshot, specs: list[cpb.ServiceSpec], now: float) -> list[ServicePlan]:
    """Per spec, in order: the nodes its new tasks would be placed on, or why they could not be."""
    out = [ServicePlan(spec.name) for spec in specs]
    services = dict(snap.services)
    tasks = dict(snap.tasks)
    planned: dict[str, ServicePlan] = {}  # service id -> its plan
    for i, (spec, result) in enumerate(zip(specs, out, strict=True)):
        view = replace(snap, services=services, tasks=tasks)
        try:
            svc = _hypothetical(view, spec, f"(planned {i})")
        except SvcError as exc:
            result.refused = exc.message
            continue
        if svc.id in snap.services and svc.spec_version != snap.services[svc.id].spec_version:
            # the rollout's end: every task new, the old ones gone from their nodes
            tasks = {tid: t for tid, t in tasks.items() if t.service_id != svc.id}
        services[svc.id] = svc
        planned[svc.id] = result
    view = replace(snap, services=services, tasks=tasks)
    counter = itertools.count(1)
    round_ = orchestrator.reconcile(view, now, lambda: f"(planned task {next(counter)})")
    pending = roundplan.still_waiting(view, round_) + round_.create
    placements, unplaced = scheduler.schedule(view, pending)
    service_of = {t.id: t.service_id for t in pending}
    for p in placements:
        mine = planned.get(service_of[p.task_id])
        if mine is not None:
            mine.nodes[view.nodes[p.node_id].hostname] += 1
    for task_id, why in unplaced.items():
        mine = planned.get(service_of[task_id])
        if mine is not None:
            mine.unplaced[why] += 1
    return out


def answer(snap: Snapshot, specs: list[cpb.ServiceSpec], now: float) -> ctl.PlanPlacementResponse:
    return ctl.PlanPlacementResponse(
        services=[
            ctl.ServicePlacement(service=p.service, nodes=dict(p.nodes), unplaced=dict(p.unplaced), refused=p.refused)
            for p in plan(snap, specs, now)
        ]
    )
