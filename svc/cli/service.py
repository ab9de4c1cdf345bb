"""Service verbs at top level, as Docker's: `svc create|ls|ps|inspect|scale|update|rollback|rm|logs`.

A command's waits (create, scale, update, rollback) outlive a leader change: once the write has
landed, the reads that follow it are tried again through an election, and the result printed is
the cluster's. A single read is not retried here: the manager it goes to retries its forward.
The write verbs import their flags and waits where they are built or run: `svc ls` never needs them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from svc.cli import output
from svc.errors import InvalidArgument, SvcError
from svc.kv import SERVICE_FILTERS, TASK_FILTERS, parse_filters, parse_kv
from svc.reference import familiar


def register(sub: Any, command: str | None = None) -> None:
    """The verbs at top level (the short forms) and again under `svc service` (docker's spelling):
    the same parsers' flags and the same handlers, made by one function per verb. Given the command
    word, only what it needs is built: building every verb's parser twice cost a command ~25 ms."""
    if command != "service":
        register_verbs(sub, command)
    if command in (None, "service"):
        group = sub.add_parser("service", help="manage services (the same verbs as the top-level short forms)")
        register_verbs(group.add_subparsers(dest="verb", required=True, metavar="COMMAND"))


def register_verbs(sub: Any, only: str | None = None) -> None:
    for verb, build in VERBS.items():
        if only in (None, verb):
            build(sub)


def _create_parser(sub: Any) -> None:
    from svc import updatepolicy
    from svc.cli.specflags import add_container_flags

    create = sub.add_parser("create", help="create a service")
    create.add_argument("--name", default=None, help="service name (default: from the image)")
    create.add_argument("--replicas", type=int, default=None, help="number of tasks (default 1)")
    create.add_argument("--mode", default="replicated", help="replicated or global")
    create.add_argument(
        "--constraint", action="append", default=[], help="placement constraint, e.g. node.role!=manager"
    )
    create.add_argument("--max-replicas-per-node", type=int, default=0)
    create.add_argument(
        "--placement-pref", action="append", default=[], metavar="spread=node.labels.KEY", help="spread over a label"
    )
    updatepolicy.add_flags(create)
    create.add_argument("--reserve-memory", help="memory reserved on the node per task, e.g. 128m")
    create.add_argument("--reserve-cpu", help="CPUs reserved on the node per task, e.g. 0.25")
    create.add_argument("--restart-condition", default="", help="any (default), on-failure, none")
    create.add_argument("--restart-delay", default=None, help="delay before a restart (default 5s)")
    create.add_argument("--restart-max-attempts", type=int, default=0)
    create.add_argument("--service-label", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("-d", "--detach", action="store_true", help="return at once, do not wait for the tasks")
    create.add_argument(
        "--no-resolve-image", action="store_true", help="do not pin the image's tag to the digest it names now"
    )
    create.add_argument(
        "--with-registry-auth", action="store_true", help="send your login for the image's registry to the nodes"
    )
    create.add_argument("--endpoint-mode", default="", help="vip (default: one virtual IP) or dnsrr")
    for kind in ("secret", "config"):
        create.add_argument(
            f"--{kind}",
            action="append",
            default=[],
            metavar="NAME|source=NAME,target=,uid=,gid=,mode=",
            help=f"give the tasks a {kind} as a file (repeatable)",
        )
    add_container_flags(create, service=True)
    create.add_argument("image")
    create.add_argument("command", nargs=argparse.REMAINDER)
    create.set_defaults(func=cmd_create)


def _ls_parser(sub: Any) -> None:
    ls = sub.add_parser("ls", help="list services")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[], help="name=, id=, mode=, label=")
    ls.add_argument("--format", default="")
    ls.set_defaults(func=cmd_ls)


def _ps_parser(sub: Any) -> None:
    ps = sub.add_parser("ps", help="list the tasks of services")
    ps.add_argument("services", nargs="+")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("--no-trunc", action="store_true")
    ps.add_argument("-f", "--filter", action="append", default=[], help="desired-state=running, node=, id=")
    ps.add_argument("--format", default="")
    ps.set_defaults(func=cmd_ps)


def _inspect_parser(sub: Any) -> None:
    ins = sub.add_parser("inspect", help="show services as JSON (or --pretty, or --format TEMPLATE)")
    ins.add_argument("services", nargs="+")
    ins.add_argument("--pretty", action="store_true", help="docker's human-readable layout")
    add_inspect_format(ins)
    ins.set_defaults(func=cmd_inspect)


def _scale_parser(sub: Any) -> None:
    scale = sub.add_parser("scale", help="scale services: svc scale web=5 api=3")
    scale.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS")
    scale.add_argument("-d", "--detach", action="store_true", help="return at once, do not wait")
    scale.set_defaults(func=cmd_scale)


def _update_parser(sub: Any) -> None:
    from svc import updatepolicy
    from svc.cli import kernelflags

    upd = sub.add_parser("update", help="change a service (tasks are replaced one at a time)")
    upd.add_argument("service")
    upd.add_argument("--image")
    upd.add_argument("--replicas", type=int)
    upd.add_argument("--env-add", action="append", default=[])
    upd.add_argument("--env-rm", action="append", default=[])
    upd.add_argument("--constraint-add", action="append", default=[])
    upd.add_argument("--constraint-rm", action="append", default=[])
    upd.add_argument("--placement-pref-add", action="append", default=[], metavar="spread=node.labels.KEY")
    upd.add_argument("--placement-pref-rm", action="append", default=[], metavar="spread=node.labels.KEY")
    updatepolicy.add_flags(upd)
    upd.add_argument("--limit-memory")
    upd.add_argument("--limit-cpu")
    upd.add_argument("--health-cmd")
    upd.add_argument(
        "--security-opt", action="append", default=[], metavar="seccomp=unconfined|builtin|FILE", help="seccomp"
    )
    upd.add_argument("--args", help="new command, as one shell-quoted string")
    upd.add_argument("--force", action="store_true", help="replace every task, even if nothing else changed")
    upd.add_argument(
        "--publish-add", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/udp]", help="publish a port"
    )
    upd.add_argument(
        "--publish-rm", action="append", default=[], metavar="CONTAINER[/udp]", help="stop publishing a target port"
    )
    upd.add_argument("-d", "--detach", action="store_true")
    upd.add_argument("--no-resolve-image", action="store_true", help="do not pin a new image's tag to its digest")
    upd.add_argument("--network-add", action="append", default=[], metavar="NETWORK", help="join an overlay network")
    upd.add_argument("--mount-add", action="append", default=[], metavar="type=...,target=...", help="add a mount")
    upd.add_argument("--mount-rm", action="append", default=[], metavar="TARGET", help="remove the mount at TARGET")
    kernelflags.add_update_flags(upd)  # --init/--no-init, --sysctl-, --ulimit-, --host-add/-rm
    upd.add_argument("--network-rm", action="append", default=[], metavar="NETWORK", help="leave an overlay network")
    for kind in ("secret", "config"):
        upd.add_argument(f"--{kind}-add", action="append", default=[], metavar="NAME|source=NAME,...")
        upd.add_argument(f"--{kind}-rm", action="append", default=[], metavar="NAME|TARGET")
    upd.add_argument(
        "--with-registry-auth", action="store_true", help="send your login for the image's registry to the nodes"
    )
    upd.set_defaults(func=cmd_update)


def _rollback_parser(sub: Any) -> None:
    rb = sub.add_parser("rollback", help="return a service to its previous spec")
    rb.add_argument("service")
    rb.add_argument("-d", "--detach", action="store_true")
    rb.set_defaults(func=cmd_rollback)


def _rm_parser(sub: Any) -> None:
    rm = sub.add_parser("rm", help="remove services")
    rm.add_argument("services", nargs="+")
    rm.set_defaults(func=cmd_rm)


def _logs_parser(sub: Any) -> None:
    logs = sub.add_parser("logs", help="the output of a service's tasks, from every node")
    logs.add_argument("service")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--tail", type=int, default=0)
    logs.add_argument("-t", "--timestamps", action="store_true")
    logs.add_argument("--no-task-ids", action="store_true", help="do not prefix lines with the task name")
    logs.add_argument("--since", default="", help="lines since a time: 10m, 1h30m, 2026-12-01T14:09:49Z, Unix seconds")
    logs.add_argument("--until", default="", help="lines before a time (the same forms as --since)")
    logs.add_argument("--raw", action="store_true", help="the lines alone, without the task@node prefix")
    logs.add_argument("--details", action="store_true", help="show the tasks' labels before each line, as docker")
    logs.set_defaults(func=cmd_logs)


VERBS: dict[str, Callable[[Any], None]] = {
    "create": _create_parser,
    "ls": _ls_parser,
    "ps": _ps_parser,
    "inspect": _inspect_parser,
    "scale": _scale_parser,
    "update": _update_parser,
    "rollback": _rollback_parser,
    "rm": _rm_parser,
    "logs": _logs_parser,
}


def add_inspect_format(p: Any) -> None:
    p.add_argument("-f", "--format", default="", help="a Go template applied to each object, e.g. '{{.Spec.Name}}'")


def client(args: argparse.Namespace) -> Any:
    from svc.control import ControlClient

    return ControlClient(args.host, getattr(args, "tls_dir", None))


def cmd_create(args: argparse.Namespace) -> int:
    from svc import updatepolicy
    from svc.cli.specflags import overlay_networks, parse_attachment, spec_from_args
    from svc.cli.wait import wait_converged
    from svc.constraints import parse_preference
    from svc.units import parse_cpus, parse_duration, parse_size
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import control_pb2 as ctl

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    task = spec_from_args(args, args.image, command)
    if args.name is not None and not args.name.strip():
        raise InvalidArgument("invalid service name '': give a name, or leave out --name to name it after the image")
    name = args.name or args.image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0].replace(".", "-")
    if args.mode == "global" and args.replicas is not None:
        raise InvalidArgument("--replicas cannot be used with --mode global")
    if args.replicas is not None and args.replicas < 0:
        raise InvalidArgument(f"invalid replicas {args.replicas}: must be 0 or more")
    spec = cpb.ServiceSpec(
        name=name, mode=args.mode, task=task, labels=parse_kv(args.service_label, "label", require_equals=False)
    )
    if args.mode != "global":
        spec.replicas = 1 if args.replicas is None else args.replicas
    spec.placement.constraints.extend(args.constraint)
    for pref in args.placement_pref:
        spec.placement.preferences.add(spread=parse_preference(pref))
    updatepolicy.set_from_flags(spec, args)
    spec.endpoint_mode = args.endpoint_mode
    for target, aliases in (parse_attachment(n) for n in overlay_networks(args.network)):
        spec.networks.add(target=target, aliases=aliases)
    set_file_refs(spec.task, args.secret, args.config)
    if args.max_replicas_per_node < 0:
        raise InvalidArgument("--max-replicas-per-node must not be negative")
    spec.placement.max_replicas_per_node = args.max_replicas_per_node
    if args.reserve_memory:
        spec.reservations.memory_bytes = parse_size(args.reserve_memory, "memory reservation")
    if args.reserve_cpu:
        spec.reservations.nano_cpus = parse_cpus(args.reserve_cpu)
    spec.restart.condition = args.restart_condition
    if args.restart_delay is not None:
        spec.restart.delay_seconds = parse_duration(args.restart_delay, "restart delay")
    if args.restart_max_attempts < 0:
        raise InvalidArgument("--restart-max-attempts must not be negative")
    spec.restart.max_attempts = args.restart_max_attempts
    if args.with_registry_auth:
        set_registry_auth(spec)
    check_spec(spec)
    c = client(args)
    svc = c.CreateService(ctl.CreateServiceRequest(spec=spec, no_resolve_image=args.no_resolve_image))
    for warning in svc.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(svc.id)
    if not args.detach:
        return wait_converged(c, [svc.spec.name], written={svc.spec.name: svc})
    return 0


def update_networks(c: Any, spec: Any, add: list[str], remove: list[str]) -> None:
    """`--network-add/--network-rm`: the spec stores network ids; names are resolved through the managers."""
    from svc.cli.specflags import parse_attachment
    from svc.v1 import control_pb2 as ctl

    def network_id(ref: str) -> str:
        return str(c.GetNetwork(ctl.NetworkRef(network=ref)).id)

    drop = {network_id(ref) for ref in remove}
    missing = drop - {a.target for a in spec.networks}
    if missing:
        raise InvalidArgument(f"--network-rm: the service is not on network {', '.join(sorted(remove))}")
    kept = [a for a in spec.networks if a.target not in drop]
    del spec.networks[:]
    spec.networks.extend(kept)
    for target, aliases in (parse_attachment(n) for n in add):
        spec.networks.add(target=target, aliases=aliases)


def set_file_refs(task: Any, secrets: list[str], configs: list[str]) -> None:
    """`--secret`/`--config`: references by name (the managers resolve them to ids), never values."""
    from svc import filerefs

    task.secrets.extend(filerefs.parse_ref("secret", s) for s in secrets)
    task.configs.extend(filerefs.parse_ref("config", s) for s in configs)
    filerefs.check_refs(list(task.secrets), list(task.configs))


def update_file_refs(task: Any, args: argparse.Namespace) -> None:
    from svc import filerefs

    for kind, field in (("secret", task.secrets), ("config", task.configs)):
        refs = filerefs.update_refs(kind, list(field), getattr(args, f"{kind}_add"), getattr(args, f"{kind}_rm"))
        del field[:]
        field.extend(refs)
    filerefs.check_refs(list(task.secrets), list(task.configs))


def update_ports(task: Any, add: list[str], remove: list[str]) -> None:
    """`--publish-rm CONTAINER[/proto]` (or HOST:CONTAINER) drops mappings of that target port; `--publish-add`
    replaces a mapping of the same target port and protocol, as docker's `service update` does."""
    from svc.ports import parse_publish

    def target(text: str) -> tuple[int, str]:
        body, _, proto = text.partition("/")
        port = body.rsplit(":", 1)[-1]
        if not port.isdigit():
            raise InvalidArgument(f"invalid --publish-rm {text!r}: use the target port, e.g. 80 or 80/udp")
        return int(port), proto or "tcp"

    drop = {target(t) for t in remove}
    added = [parse_publish(p, pick=True) for p in add]
    drop |= {(p.container_port, p.protocol or "tcp") for p in added}
    kept = [p for p in task.ports if (p.container_port, p.protocol or "tcp") not in drop]
    del task.ports[:]
    task.ports.extend([*kept, *added])


def set_registry_auth(spec: Any) -> None:
    """`--with-registry-auth`: this user's login for the image's registry (`svc login`), into the spec."""
    from svc import dockerconfig, registryref

    registry = registryref.parse(spec.task.image).registry
    creds = dockerconfig.credentials(registry)
    if creds is None:
        raise InvalidArgument(f"--with-registry-auth: no login for {registry} (run `svc login {registry}` first)")
    spec.registry_auth.server, spec.registry_auth.username, spec.registry_auth.password = registry, *creds


def check_spec(spec: Any) -> None:
    """The early refusal of what can never run (the managers check the same, for API callers)."""
    from svc import containerspec

    containerspec.validate(spec.task)
    containerspec.validate_service_size(spec.ByteSize())


def replicas_text(svc: Any) -> str:
    return f"{svc.running}/{svc.desired}"


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.cli import formatter, jsonview
    from svc.ports import format_ports
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, SERVICE_FILTERS)
    if formatter.is_template(args.format):
        formatter.prepare(args.format)  # a bad template is refused before the managers are asked
    services = client(args).ListServices(ctl.ListServicesRequest(filters=args.filter)).services
    if args.quiet:
        for s in services:
            print(s.id[:12])
        return 0
    if args.format == "json":
        output.json_lines(jsonview.doc(s) for s in services)
        return 0
    docs = [
        {
            "ID": s.id[:12],
            "Name": s.spec.name,
            "Mode": s.spec.mode or "replicated",
            "Replicas": replicas_text(s),
            "Image": familiar(s.spec.task.image),
            "Ports": format_ports(list(s.spec.task.ports)),
        }
        for s in services
    ]
    if formatter.is_template(args.format):
        formatter.render(args.format, docs)
        return 0
    output.table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], [list(d.values()) for d in docs])
    return 0


def _state_text(task: Any, now: float) -> str:
    state = task.status.state.capitalize()
    if task.status.state == "running" and task.status.health:
        state += f" ({task.status.health})"
    return f"{state} {output.ago(task.status.timestamp, now)}".strip()


def cmd_ps(args: argparse.Namespace) -> int:

    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, TASK_FILTERS)
    c = client(args)
    return print_tasks(args, c, [ctl.ListTasksRequest(service=ref, filters=args.filter) for ref in args.services])


TASK_COLUMNS = ("ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports")


def print_tasks(args: argparse.Namespace, c: Any, requests: list[Any]) -> int:
    """`svc ps` and `svc node ps`: the tasks each ListTasks request finds, with their history."""
    from svc.cli import formatter, jsonview

    template = formatter.is_template(args.format)
    if template:
        formatter.prepare(args.format)
    as_json = args.format == "json"
    # Only a template shows the ports, and only --format json the documents: the table needs neither
    # (svc.ports brings ipaddress, and a document per task is most of the work for a long list).
    if template:
        from svc.ports import format_ports
    rows, docs = [], []
    now = time.time()
    for request in requests:
        resp = c.ListTasks(request)
        names = resp.node_names
        groups: dict[tuple[str, int, str], list[Any]] = {}
        for t in resp.tasks:
            key = (t.service_name, t.slot, "" if t.slot else t.node_id)
            groups.setdefault(key, []).append(t)
        for (svc_name, slot, node_id), tasks in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
            tasks.sort(key=lambda t: (t.desired_state != "running", -t.created_at))
            label = f"{svc_name}.{slot}" if slot else f"{svc_name}.{node_id[:12]}"
            for i, t in enumerate(tasks):
                if as_json:
                    docs.append(jsonview.doc(t))
                error = t.status.err or (t.status.message if t.status.state == "pending" else "")
                rows.append(
                    [
                        t.id if args.no_trunc else t.id[:12],
                        label if i == 0 else f" \\_ {label}",
                        t.spec.image if args.no_trunc else familiar(t.spec.image),
                        names.get(t.node_id, t.node_id[:12]),
                        t.desired_state.capitalize(),
                        _state_text(t, now),
                        error if args.no_trunc else output.truncate(error, 60),
                        format_ports(list(t.spec.ports)) if template else "",
                    ]
                )
    if args.quiet:
        for r in rows:
            print(r[0])
    elif as_json:
        output.json_lines(docs)
    elif template:
        formatter.render(args.format, [dict(zip(TASK_COLUMNS, r, strict=True)) for r in rows])
    else:
        rows = [r[:-1] for r in rows]
        output.table(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], rows)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.cli import inspectview
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return inspectview.show(args, args.services, lambda ref: c.GetService(ctl.ServiceRef(service=ref)))


def parse_scale_pairs(pairs: list[str]) -> list[tuple[str, int]]:
    out = []
    for pair in pairs:
        name, sep, count = pair.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"invalid scale argument {pair!r}: use SERVICE=REPLICAS, e.g. web=5")
        if not count.isdigit():
            raise InvalidArgument(f"invalid replicas {count!r} for {name}: use a whole number, 0 or more")
        out.append((name, int(count)))
    return out


def cmd_scale(args: argparse.Namespace) -> int:
    from svc.cli.wait import wait_converged
    from svc.v1 import control_pb2 as ctl

    pairs = parse_scale_pairs(args.pairs)
    c = client(args)
    failed, scaled, written = 0, [], {}
    for name, count in pairs:
        try:
            written[name] = c.ScaleService(ctl.ScaleServiceRequest(service=name, replicas=count))
            print(f"{name} scaled to {count}")
            scaled.append(name)
        except SvcError as exc:
            print(f"svc: {name}: {exc}", file=sys.stderr)
            failed += 1
    if scaled and not args.detach:
        failed += wait_converged(c, scaled, written=written)
    return 1 if failed else 0


def cmd_update(args: argparse.Namespace) -> int:
    import shlex

    from svc import updatepolicy
    from svc.cli import kernelflags
    from svc.cli.wait import wait_converged
    from svc.constraints import parse_preference
    from svc.units import parse_cpus, parse_size
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    svc = c.GetService(ctl.ServiceRef(service=args.service))
    spec = cpb.ServiceSpec()
    spec.CopyFrom(svc.spec)
    if args.image:
        spec.task.image = args.image
    if args.with_registry_auth:
        set_registry_auth(spec)
    if args.network_add or args.network_rm:
        update_networks(c, spec, args.network_add, args.network_rm)
    if args.secret_add or args.secret_rm or args.config_add or args.config_rm:
        update_file_refs(spec.task, args)
    if args.mount_add or args.mount_rm:
        from svc import mountspec

        mounts = mountspec.update_mounts(list(spec.task.mounts), args.mount_add, args.mount_rm)
        spec.task.ClearField("mounts")
        spec.task.mounts.extend(mounts)
    kernelflags.update(args, spec.task)
    if args.replicas is not None:
        if args.replicas < 0:
            raise InvalidArgument("--replicas must be 0 or more")
        spec.replicas = args.replicas
    if args.env_add or args.env_rm:
        env = {e.partition("=")[0]: e for e in spec.task.env}
        for key in args.env_rm:
            env.pop(key, None)
        for item in args.env_add:
            if "=" not in item:
                raise InvalidArgument(f"invalid environment variable {item!r}: use KEY=VALUE")
            env[item.partition("=")[0]] = item
        spec.task.env[:] = list(env.values())
    constraints = [x for x in spec.placement.constraints if x not in args.constraint_rm] + args.constraint_add
    spec.placement.constraints[:] = constraints
    if args.placement_pref_add or args.placement_pref_rm:
        drop = {parse_preference(p) for p in args.placement_pref_rm}
        kept = [p.spread for p in spec.placement.preferences if p.spread not in drop]
        del spec.placement.preferences[:]
        for spread in [*kept, *(parse_preference(p) for p in args.placement_pref_add)]:
            spec.placement.preferences.add(spread=spread)
    updatepolicy.set_from_flags(spec, args)
    if args.limit_memory:
        spec.task.resources.memory_bytes = parse_size(args.limit_memory, "memory limit")
    if args.limit_cpu:
        spec.task.resources.nano_cpus = parse_cpus(args.limit_cpu)
    if args.health_cmd:
        spec.task.healthcheck.test[:] = ["CMD-SHELL", args.health_cmd]
    if args.args is not None:
        spec.task.cmd[:] = shlex.split(args.args)
    if args.publish_add or args.publish_rm:
        update_ports(spec.task, args.publish_add, args.publish_rm)
    if args.force:
        spec.force_update += 1
    if args.security_opt:
        from svc import seccompprofile

        seccomp = seccompprofile.from_security_opts(args.security_opt)
        if seccomp is not None and (seccomp.mode or seccomp.profile):
            spec.task.seccomp.CopyFrom(seccomp)
        else:
            spec.task.ClearField("seccomp")  # seccomp=builtin: back to Docker's default profile
    check_spec(spec)
    updated = c.UpdateService(
        ctl.UpdateServiceRequest(service=svc.id, version=svc.version, spec=spec, no_resolve_image=args.no_resolve_image)
    )
    for warning in updated.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(updated.spec.name)
    if args.detach:
        return 0
    from svc.cli import waitplan

    name = updated.spec.name
    fresh = {name: updated.updated_at} if waitplan.replaces_tasks(svc.spec, updated.spec) else {}
    return wait_converged(c, [name], written={name: updated}, fresh=fresh, updates=(name,))


def cmd_rollback(args: argparse.Namespace) -> int:
    from svc.cli.wait import wait_converged
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    svc = c.RollbackService(ctl.ServiceRef(service=args.service))
    print(svc.spec.name)
    name = svc.spec.name
    return 0 if args.detach else wait_converged(c, [name], written={name: svc}, rollbacks=(name,))


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return output.for_each(args.services, lambda ref: (c.RemoveService(ctl.ServiceRef(service=ref)), print(ref)))


def cmd_logs(args: argparse.Namespace) -> int:
    from svc.cli import logs

    return logs.cmd_logs(args)
