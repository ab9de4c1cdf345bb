"""What a deploy writes, decided from the stack and what the cluster holds (pure).

Rule (docker's deploy_composefile.go): networks, secrets and configs are created when missing and
never updated; services of the stack are updated (with the version read) when their spec differs,
created when missing, and those no longer in the file are removed only with --prune. An existing
service's spec is compared with the names resolved to the ids the managers store, so an unchanged
file writes nothing; the managers alone decide which tasks an update replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESOLVE_IMAGE = ("always", "changed", "never")


@dataclass
class Plan:
    networks: list[Any] = field(default_factory=list)  # NetworkSpec to create
    files: list[tuple[str, Any]] = field(default_factory=list)  # (kind, SecretSpec) to create
    create: list[Any] = field(default_factory=list)  # ServiceSpec
    update: list[tuple[Any, Any]] = field(default_factory=list)  # (current Service, new ServiceSpec)
    unchanged: list[str] = field(default_factory=list)  # service names
    remove: list[Any] = field(default_factory=list)  # Service
    missing: list[str] = field(default_factory=list)  # external objects not found: "network NAME"
    repin: list[str] = field(default_factory=list)  # updated with an equal spec: only the tag is looked up again


def resolved(spec: Any, current: Any, network_ids: dict[str, str], file_ids: dict[tuple[str, str], str]) -> Any:
    """`spec` as the managers would store it next to `current`: networks and files by id, the
    current pinned digest kept for an unchanged image string, a published port and a port's mode
    the managers picked kept."""
    from svc.v1 import cluster_pb2 as cpb

    out = cpb.ServiceSpec()
    out.CopyFrom(spec)
    for a in out.networks:
        a.target = network_ids.get(a.target, a.target)
    for kind, refs in (("secret", out.task.secrets), ("config", out.task.configs)):
        for r in refs:
            r.id = file_ids.get((kind, r.name), r.id)
    if "@" not in out.task.image and current.task.image.split("@", 1)[0] == out.task.image:
        out.task.image = current.task.image
    picked = {(p.container_port, p.protocol or "tcp"): p for p in current.task.ports}
    for p in out.task.ports:
        was = picked.get((p.container_port, p.protocol or "tcp"))
        if was is not None:
            p.host_port = p.host_port or was.host_port
            p.publish_mode = p.publish_mode or was.publish_mode  # the managers write the default (ingress)
            p.protocol = p.protocol or was.protocol
    return keep_forced(current, out)


def keep_forced(current: Any, spec: Any) -> Any:
    """An update keeps the service's force counter, as docker's deploy does (ForceUpdate)."""
    if "force_update" in spec.DESCRIPTOR.fields_by_name:
        spec.force_update = current.force_update
    return spec


def _copy(spec: Any) -> Any:
    from svc.v1 import cluster_pb2 as cpb

    out = cpb.ServiceSpec()
    out.CopyFrom(spec)
    return out


def same(a: Any, b: Any) -> bool:
    from svc.v1 import cluster_pb2 as cpb

    x, y = cpb.ServiceSpec(), cpb.ServiceSpec()
    x.CopyFrom(a)
    y.CopyFrom(b)
    for m in (x, y):
        m.ClearField("registry_auth")
    return x.SerializeToString(deterministic=True) == y.SerializeToString(deterministic=True)


def make(
    stack: Any,
    services: list[Any],
    network_ids: dict[str, str],
    file_ids: dict[tuple[str, str], str],
    prune: bool = False,
    resolve_image: str = "always",
) -> Plan:
    """`services`: the stack's services now (by its label); the id maps: every network and every
    secret/config of the cluster by name."""
    plan = Plan()
    for n in stack.networks:
        if n.name not in network_ids:
            if n.external:
                plan.missing.append(f"network {n.name}")
            else:
                plan.networks.append(n.spec)
    for f in stack.files:
        if (f.kind, f.name) not in file_ids:
            if f.external:
                plan.missing.append(f"{f.kind} {f.name}")
            else:
                plan.files.append((f.kind, f.spec))
    current = {s.spec.name: s for s in services}
    for spec in stack.services:
        svc = current.get(spec.name)
        if svc is None:
            plan.create.append(spec)
            continue
        want = resolved(spec, svc.spec, network_ids, file_ids)
        if same(want, svc.spec):
            if resolve_image == "always" and "@" not in spec.task.image:
                # docker asks the registry again: the managers re-pin, and replace tasks only for a new digest
                plan.update.append((svc, keep_forced(svc.spec, _copy(spec))))
                plan.repin.append(spec.name)
            else:
                plan.unchanged.append(spec.name)
        else:
            plan.update.append((svc, keep_forced(svc.spec, _copy(spec)) if resolve_image == "always" else want))
    if prune:
        wanted = {s.name for s in stack.services}
        plan.remove = [s for s in services if s.spec.name not in wanted]
    return plan


def placement_specs(plan: Plan, network_ids: dict[str, str], file_ids: dict[tuple[str, str], str]) -> list[Any]:
    """The specs to ask the managers where their tasks would go (PlanPlacement), in the deploy's order:
    each update as the managers would compare it with the service's current spec, then the creates."""
    return [resolved(spec, svc.spec, network_ids, file_ids) for svc, spec in plan.update] + list(plan.create)


def placement_lines(p: Any) -> list[str]:
    """A ServicePlacement as `--dry-run` prints it: where new tasks would go, and why some would not."""
    if p.refused:
        return [f"Would refuse service {p.service}: {p.refused}"]
    lines = []
    if p.nodes or not p.unplaced:
        where = ", ".join(f"{n} on {host}" for host, n in sorted(p.nodes.items())) or "no new tasks"
        lines.append(f"Would place {p.service}: {where}")
    for why, n in sorted(p.unplaced.items()):
        lines.append(f"Would not place {n} task{'s' if n != 1 else ''} of {p.service}: {why}")
    return lines


def describe(plan: Plan, placements: dict[str, Any] | None = None) -> list[str]:
    """What `deploy --dry-run` prints: every write the plan holds, in the order a deploy makes them, each
    created or updated service followed by its placement (`placements`: ServicePlacement by name)."""
    placements = placements or {}

    def placed(name: str) -> list[str]:
        return placement_lines(placements[name]) if name in placements else []

    lines = [f"Would create network {spec.name}" for spec in plan.networks]
    lines += [f"Would create {kind} {spec.name}" for kind, spec in plan.files]
    for svc, spec in plan.update:
        why = ", spec unchanged: its image tag is looked up again" if spec.name in plan.repin else ""
        lines.append(f"Would update service {spec.name} (id: {svc.id}{why})")
        lines += placed(spec.name)
    for spec in plan.create:
        lines.append(f"Would create service {spec.name}")
        lines += placed(spec.name)
    lines += [f"Would remove service {svc.spec.name} (id: {svc.id})" for svc in plan.remove]
    lines += [f"Unchanged service {name}" for name in plan.unchanged]
    return lines or ["Nothing to do"]
