"""`inspect` for services, nodes and networks: JSON (jsonview's), `--format TEMPLATE`, `--pretty`.

Rule: objects are fetched one by one (a missing one is reported, the others still shown, exit 1, as
docker); a template is parsed before the first fetch; `--pretty` is docker's `service inspect --pretty`
layout built from the same document the JSON shows.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from svc.cli import output


def show(args: argparse.Namespace, refs: list[str], get: Callable[[str], Any]) -> int:
    from svc.cli import formatter, jsonview
    from svc.errors import InvalidArgument

    if args.format and getattr(args, "pretty", False):
        raise InvalidArgument("--format is incompatible with --pretty (docker's human friendly format)")
    template = formatter.prepare(args.format)[0] if args.format and args.format != "json" else None
    messages: list[Any] = []
    code = output.for_each(refs, lambda ref: messages.append(get(ref)))
    docs = [_with_endpoint(m, jsonview.doc(m, defaults=True)) for m in messages]
    if template is not None:
        for d in docs:
            sys.stdout.write(template.execute(d) + "\n")
    elif getattr(args, "pretty", False):
        sys.stdout.write("\n".join(pretty_service(m) for m in messages))
    else:
        print(json.dumps(docs, indent=2, sort_keys=True))
    return code


def _with_endpoint(msg: Any, d: dict[str, Any]) -> dict[str, Any]:
    """A service's document gets docker's `Endpoint.Ports`: how each port is published."""
    spec = getattr(msg, "spec", None)
    if spec is None or not hasattr(spec, "task"):
        return d
    ports = [
        {
            "Protocol": p.protocol or "tcp",
            "TargetPort": p.container_port,
            "PublishedPort": p.host_port,
            "PublishMode": p.publish_mode or "host",
        }
        for p in spec.task.ports
    ]
    d["Endpoint"] = {"Ports": ports}
    return d


def pretty_service(svc: Any) -> str:
    """docker's `service inspect --pretty`: what the service is, in the order docker shows it."""
    from svc import updatepolicy
    from svc.reference import familiar
    from svc.units import format_size

    spec, task = svc.spec, svc.spec.task
    lines = ["", f"ID:\t\t{svc.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines.append("Labels:")
        lines += [f" {k}={v}" if v else f" {k}" for k, v in sorted(spec.labels.items())]
    if spec.mode == "global":
        lines.append("Service Mode:\tGlobal")
    else:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{spec.replicas}"]
    if svc.HasField("update_status"):
        u = svc.update_status
        lines += ["UpdateStatus:", f" State:\t\t{u.state}"]
        if u.started_at:
            lines.append(f" Started:\t{output.ago(u.started_at)}")
        if u.completed_at:
            lines.append(f" Completed:\t{output.ago(u.completed_at)}")
        lines.append(f" Message:\t{u.message}")
    placement = spec.placement
    if placement.constraints or placement.preferences or placement.max_replicas_per_node:
        lines.append("Placement:")
        if placement.constraints:
            lines.append(f" Constraints:\t[{' '.join(placement.constraints)}]")
        if placement.preferences:
            lines.append(f" Preferences:   [{' '.join('Spread=' + p.spread for p in placement.preferences)}]")
        if placement.max_replicas_per_node:
            lines.append(f" Max Replicas Per Node:\t{placement.max_replicas_per_node}")
    lines += ["UpdateConfig:", *updatepolicy.pretty(spec.update_config)]
    lines += ["RollbackConfig:", *updatepolicy.pretty(spec.rollback_config, rollback=True)]
    lines += ["ContainerSpec:", f" Image:\t\t{familiar(task.image) if '@' not in task.image else task.image}"]
    if task.entrypoint:
        lines.append(f" Command:\t{' '.join(task.entrypoint)}")
    if task.cmd:
        lines.append(f" Args:\t\t{' '.join(task.cmd)}")
    if task.env:
        lines.append(f" Env:\t\t{' '.join(task.env)}")
    if task.workdir:
        lines.append(f" Dir:\t\t{task.workdir}")
    if task.user:
        lines.append(f" User:\t\t{task.user}")
    if task.read_only:
        lines.append(" Read Only:\ttrue")
    if task.mounts:
        lines.append("Mounts:")
        for m in task.mounts:
            ro = "true" if m.read_only else "false"
            lines += [f" Target:\t{m.target}", f"  Source:\t{m.source}", f"  ReadOnly:\t{ro}", f"  Type:\t\t{m.type}"]
    limits, reserve = task.resources, spec.reservations
    if limits.nano_cpus or limits.memory_bytes or reserve.nano_cpus or reserve.memory_bytes:
        lines.append("Resources:")
        for title, res in (("Reservations", reserve), ("Limits", limits)):
            if res.nano_cpus or res.memory_bytes:
                lines.append(f" {title}:")
                if res.nano_cpus:
                    lines.append(f"  CPU:\t\t{res.nano_cpus / 1e9:g}")
                if res.memory_bytes:
                    lines.append(f"  Memory:\t{re.sub(r'[.]0(?=[A-Za-z])', '', format_size(res.memory_bytes))}")
    if spec.networks:
        lines.append("Networks: " + " ".join(a.target for a in spec.networks))
    lines.append(f"Endpoint Mode:\t{spec.endpoint_mode or 'vip'}")
    if task.ports:
        lines.append("Ports:")
        for p in task.ports:
            lines += [
                f" PublishedPort = {p.host_port}",
                f"  Protocol = {p.protocol or 'tcp'}",
                f"  TargetPort = {p.container_port}",
                f"  PublishMode = {p.publish_mode or 'host'}",
            ]
    return "\n".join(lines) + "\n"
