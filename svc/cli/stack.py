"""`svc stack deploy|ls|services|ps|rm`: compose files as stacks, as docker's (docs/stacks.md).

A client of the control API only: svc/stack reads and checks everything (files, references, specs)
and decides the writes before the first one; the managers apply every rule as for any caller.
Objects of a stack are found by the label com.docker.stack.namespace. yaml and jsonschema load
only in `deploy`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from svc import defaults
from svc.cli import output
from svc.cli.service import client
from svc.errors import Conflict, NotFound, SvcError

NAMESPACE = "com.docker.stack.namespace"  # as svc.stack.convert (not imported: ls stays light)
KINDS = ("secret", "config")


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("stack", help="manage stacks (applications from compose files)")
    ssub = p.add_subparsers(dest="verb", required=True)
    dep = ssub.add_parser("deploy", help="deploy a new stack or update an existing one")
    dep.add_argument(
        "-c", "--compose-file", action="append", required=True, metavar="FILE", help="compose file (repeatable)"
    )
    dep.add_argument("--prune", action="store_true", help="remove services no longer in the files")
    dep.add_argument(
        "--resolve-image",
        choices=("always", "changed", "never"),
        default="always",
        help="pin images to their digests: always (default), changed (new image strings only), never",
    )
    dep.add_argument(
        "--dry-run", action="store_true", help="print what would be created, updated and removed, and placed where"
    )
    dep.add_argument(
        "--depends-timeout",
        type=float,
        default=defaults.CLI_WAIT_SECONDS,
        metavar="SECONDS",
        help="how long a service waits for what it depends_on (default 300)",
    )
    dep.add_argument("name", metavar="STACK")
    dep.set_defaults(func=cmd_deploy)
    ls = ssub.add_parser("ls", help="list stacks")
    ls.add_argument("--format", default="")
    ls.set_defaults(func=cmd_ls)
    svcs = ssub.add_parser("services", help="list the services of a stack")
    svcs.add_argument("-q", "--quiet", action="store_true")
    svcs.add_argument("-f", "--filter", action="append", default=[], help="name=, id=, mode=, label=")
    svcs.add_argument("--format", default="")
    svcs.add_argument("name", metavar="STACK")
    svcs.set_defaults(func=cmd_services)
    ps = ssub.add_parser("ps", help="list the tasks of a stack")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("-f", "--filter", action="append", default=[], help="desired-state=, node=, id=")
    ps.add_argument("--format", default="")
    ps.add_argument("--no-trunc", action="store_true")
    ps.add_argument("name", metavar="STACK")
    ps.set_defaults(func=cmd_ps)
    rm = ssub.add_parser("rm", help="remove stacks: services, secrets, configs, networks")
    rm.add_argument("names", nargs="+", metavar="STACK")
    rm.set_defaults(func=cmd_rm)


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def _services(c: Any, name: str) -> list[Any]:
    from svc.v1 import control_pb2 as ctl

    return list(c.ListServices(ctl.ListServicesRequest(filters=[f"label={NAMESPACE}={name}"])).services)


def _networks(c: Any, filters: list[str]) -> list[Any]:
    from svc.v1 import control_pb2 as ctl

    return list(c.ListNetworks(ctl.ListNetworksRequest(filters=filters)).networks)


def _files(c: Any, kind: str, filters: list[str]) -> list[Any]:
    from svc.v1 import control_pb2 as ctl

    return list(c.ListSecrets(ctl.ListSecretsRequest(kind=kind, filters=filters)).secrets)


def cmd_deploy(args: argparse.Namespace) -> int:
    from svc.stack import convert, depends, loader, plan
    from svc.v1 import control_pb2 as ctl

    doc = loader.load(args.compose_file, os.environ, _warn)
    base = os.path.dirname(os.path.abspath(args.compose_file[0]))
    stack = convert.convert(doc, args.name, base, dict(os.environ))
    graph = depends.parse(doc.get("services") or {})
    keys = depends.order(graph)
    c = client(args)
    network_ids = {n.spec.name: n.id for n in _networks(c, [])}
    file_ids = {(kind, s.spec.name): s.id for kind in KINDS for s in _files(c, kind, [])}
    p = plan.make(stack, _services(c, args.name), network_ids, file_ids, args.prune, args.resolve_image)
    if p.missing:
        what = p.missing[0]
        raise NotFound(f"{what} is declared as external, but could not be found: create it before the stack")
    p.create = depends.sort_specs(p.create, args.name, keys)
    p.update.sort(key=lambda u: keys.index(u[1].name[len(args.name) + 1 :]))
    if args.dry_run:
        specs = plan.placement_specs(p, network_ids, file_ids)
        answer = c.PlanPlacement(ctl.PlanPlacementRequest(specs=specs)) if specs else None
        placements = {sp.service: sp for sp in answer.services} if answer else {}
        for line in plan.describe(p, placements):
            print(line)
        return 0
    made: list[str] = []
    try:
        for spec in p.networks:
            print(f"Creating network {spec.name}")
            c.CreateNetwork(ctl.CreateNetworkRequest(spec=spec))
            made.append(f"network {spec.name}")
        for kind, spec in p.files:
            print(f"Creating {kind} {spec.name}")
            c.CreateSecret(ctl.CreateSecretRequest(kind=kind, spec=spec))
            made.append(f"{kind} {spec.name}")
        never = args.resolve_image == "never"
        for svc, spec in p.update:
            print(f"Updating service {spec.name} (id: {svc.id})")
            out = c.UpdateService(
                ctl.UpdateServiceRequest(service=svc.id, version=svc.version, spec=spec, no_resolve_image=never)
            )
            _warnings(out)
            made.append(f"service {spec.name} (updated)")
        for spec in p.create:
            for dep, condition in depends.waits(graph, spec.name[len(args.name) + 1 :], args.name):
                wait_for(c, dep, condition, args.depends_timeout, spec.name)
            print(f"Creating service {spec.name}")
            out = c.CreateService(ctl.CreateServiceRequest(spec=spec, no_resolve_image=never))
            _warnings(out)
            made.append(f"service {spec.name}")
        for svc in p.remove:
            print(f"Removing service {svc.spec.name}")
            c.RemoveService(ctl.ServiceRef(service=svc.id))
            made.append(f"service {svc.spec.name} (removed)")
    except SvcError as exc:
        done = f" (done before it: {', '.join(made)}; deploy again to complete)" if made else ""
        raise type(exc)(f"{exc}{done}") from None
    return 0


def wait_for(c: Any, name: str, condition: str, timeout: float, dependent: str) -> None:
    """Block until service `name` meets a depends_on condition; Unavailable naming both after `timeout`."""
    from svc.errors import DeadlineExceeded
    from svc.stack import depends
    from svc.v1 import control_pb2 as ctl

    deadline = time.monotonic() + timeout
    said = False
    while True:
        svc = c.GetService(ctl.ServiceRef(service=name))
        tasks = list(c.ListTasks(ctl.ListTasksRequest(service=svc.id)).tasks)
        if depends.ready(condition, svc, tasks):
            return
        if not said:
            print(f"Waiting for service {name} ({condition.removeprefix('service_')}) before {dependent}")
            said = True
        if time.monotonic() > deadline:
            raise DeadlineExceeded(
                f"service {dependent} depends on {name}, which is not {condition.removeprefix('service_')}"
                f" after {timeout:g} s ({svc.running}/{svc.desired} running)"
            )
        time.sleep(0.5)


def _warnings(svc: Any) -> None:
    for w in svc.warnings:
        print(f"warning: {svc.spec.name}: {w}", file=sys.stderr)


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    counts: dict[str, int] = {}
    for s in c.ListServices(ctl.ListServicesRequest(filters=[f"label={NAMESPACE}"])).services:
        name = s.spec.labels.get(NAMESPACE, "")
        counts[name] = counts.get(name, 0) + 1
    docs = [{"Name": n, "Services": str(counts[n])} for n in sorted(counts)]
    if args.format == "json":
        output.json_lines(docs)
    elif args.format:
        for d in docs:
            print(output.apply_template(args.format, d))
    else:
        output.table(["NAME", "SERVICES"], [[d["Name"], d["Services"]] for d in docs])
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    from svc.cli.service import cmd_ls as service_ls

    if not _services(client(args), args.name):
        print(f"Nothing found in stack: {args.name}", file=sys.stderr)
        return 0
    return service_ls(argparse.Namespace(**{**vars(args), "filter": [*args.filter, f"label={NAMESPACE}={args.name}"]}))


def cmd_ps(args: argparse.Namespace) -> int:
    from svc.cli.service import print_tasks
    from svc.kv import TASK_FILTERS, parse_filters
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, TASK_FILTERS)
    c = client(args)
    services = _services(c, args.name)
    if not services:
        print(f"Nothing found in stack: {args.name}", file=sys.stderr)
        return 0
    requests = [ctl.ListTasksRequest(service=s.id, filters=args.filter) for s in services]
    return print_tasks(args, c, requests)


def cmd_rm(args: argparse.Namespace) -> int:
    failed = 0
    c = client(args)
    for name in args.names:
        try:
            _remove_stack(c, name)
        except SvcError as exc:
            print(f"svc: {name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _remove_stack(c: Any, name: str) -> None:
    """docker's order: services, secrets, configs, networks (once the tasks have let go of them)."""
    from svc.v1 import control_pb2 as ctl

    label = [f"label={NAMESPACE}={name}"]
    services = _services(c, name)
    files = [(kind, s) for kind in KINDS for s in _files(c, kind, label)]
    networks = _networks(c, label)
    if not (services or files or networks):
        print(f"Nothing found in stack: {name}", file=sys.stderr)
        return
    for s in sorted(services, key=lambda s: s.spec.name):
        print(f"Removing service {s.spec.name}")
        c.RemoveService(ctl.ServiceRef(service=s.id))
    for kind, s in files:
        print(f"Removing {kind} {s.spec.name}")
        c.RemoveSecret(ctl.SecretRef(kind=kind, ref=s.id))
    deadline = time.monotonic() + defaults.CLI_WAIT_SECONDS
    for n in networks:
        print(f"Removing network {n.spec.name}")
        while True:
            try:
                c.RemoveNetwork(ctl.NetworkRef(network=n.id))
                break
            except Conflict:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # its tasks are shutting down
            except NotFound:
                break
