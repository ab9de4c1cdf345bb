"""`svc container ...`: containers on this node, through the local engine API."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from svc.cli import output
from svc.cli.specflags import add_container_flags, spec_from_args
from svc.errors import InvalidArgument, NotFound


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("container", help="manage containers on this node")
    csub = p.add_subparsers(dest="verb", required=True)

    run = csub.add_parser("run", help="create and start a container")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background and print the id")
    run.add_argument("--name", default="")
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    add_container_flags(run)
    _pull_flag(run)
    run.add_argument("image")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)

    create = csub.add_parser("create", help="create a container without starting it")
    create.add_argument("--name", default="")
    add_container_flags(create)
    _pull_flag(create)
    create.add_argument("image")
    create.add_argument("command", nargs=argparse.REMAINDER)
    create.set_defaults(func=cmd_create)

    ls = csub.add_parser("ls", aliases=["ps"], help="list containers")
    ls.add_argument("-a", "--all", action="store_true", help="include stopped containers")
    ls.add_argument("-q", "--quiet", action="store_true", help="only ids")
    ls.add_argument("--no-trunc", action="store_true")
    ls.add_argument("--format", default="", help="json, or a template such as '{{.Name}}'")
    ls.set_defaults(func=cmd_ls)

    for verb, fn, text in (
        ("start", cmd_start, "start containers"),
        ("inspect", cmd_inspect, "show details as JSON"),
        ("wait", cmd_wait, "wait for containers to exit; print exit codes"),
    ):
        v = csub.add_parser(verb, help=text)
        v.add_argument("containers", nargs="+")
        v.set_defaults(func=fn)

    stop = csub.add_parser("stop", help="stop containers (stop signal, grace period, then SIGKILL)")
    stop.add_argument("-t", "--time", type=float, default=None, help="seconds to wait before SIGKILL")
    stop.add_argument("containers", nargs="+")
    stop.set_defaults(func=cmd_stop)

    kill = csub.add_parser("kill", help="send a signal to containers")
    kill.add_argument("-s", "--signal", default="SIGKILL")
    kill.add_argument("containers", nargs="+")
    kill.set_defaults(func=cmd_kill)

    rm = csub.add_parser("rm", help="remove containers")
    rm.add_argument("-f", "--force", action="store_true", help="kill running containers first")
    rm.add_argument("containers", nargs="+")
    rm.set_defaults(func=cmd_rm)

    logs = csub.add_parser("logs", help="show a container's output")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--tail", type=int, default=0)
    logs.add_argument("-t", "--timestamps", action="store_true")
    logs.add_argument("container")
    logs.set_defaults(func=cmd_logs)

    ex = csub.add_parser("exec", help="run a command in a running container")
    ex.add_argument("-e", "--env", action="append", default=[])
    ex.add_argument("container")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)

    stats = csub.add_parser("stats", help="CPU, memory and pids of running containers (one snapshot)")
    stats.add_argument("containers", nargs="*")
    stats.add_argument("--format", default="")
    stats.set_defaults(func=cmd_stats)


def _engine():  # type: ignore[no-untyped-def]
    from svc.client import EngineClient

    return EngineClient()


def _pull_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pull",
        choices=PULL_POLICIES,
        default="missing",
        help="pull the image from its registry: missing (if not on this node), always, or never",
    )


PULL_POLICIES = ("missing", "always", "never")


def _create(args: argparse.Namespace) -> Any:
    from svc.cli.image import PullDisplay, pull
    from svc.v1 import engine_pb2 as epb

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    spec = spec_from_args(args, args.image, command)
    request = epb.CreateContainerRequest(name=args.name, spec=spec)
    if args.pull == "always":
        pull(args.image, display=PullDisplay(out=sys.stderr))
    try:
        return _engine().CreateContainer(request)
    except NotFound as exc:
        if args.pull != "missing" or not str(exc).startswith("no such image"):
            raise
    # As `docker run` does: the image is not here, so fetch it (progress on stderr: stdout is the container's).
    print(f"Unable to find image '{args.image}' locally", file=sys.stderr)
    pull(args.image, display=PullDisplay(out=sys.stderr))
    return _engine().CreateContainer(request)


def cmd_create(args: argparse.Namespace) -> int:
    print(_create(args).id)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    info = _create(args)
    try:
        engine.StartContainer(epb.ContainerRef(id=info.id))
    except Exception:
        engine.RemoveContainer(epb.RemoveContainerRequest(id=info.id, force=True))
        raise
    if args.detach:
        print(info.id)
        return 0
    try:
        _stream_logs(engine, info.id, follow=True, tail=0, timestamps=False)
        final = engine.WaitContainer(epb.ContainerRef(id=info.id))
    except KeyboardInterrupt:
        engine.StopContainer(epb.StopContainerRequest(id=info.id))
        final = engine.InspectContainer(epb.ContainerRef(id=info.id))
    if args.rm:
        engine.RemoveContainer(epb.RemoveContainerRequest(id=info.id, force=True))
    if final.error and final.exit_code < 0:
        print(f"svc: {final.error}", file=sys.stderr)
        return 125
    return final.exit_code


def _stream_logs(engine: Any, cid: str, follow: bool, tail: int, timestamps: bool) -> None:
    from svc.v1 import engine_pb2 as epb

    for line in engine.stream("ContainerLogs", epb.LogsRequest(id=cid, follow=follow, tail=tail)):
        out = sys.stdout.buffer if line.stream == "stdout" else sys.stderr.buffer
        if timestamps:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(line.time))
            out.write(f"{stamp}.{int((line.time % 1) * 1e9):09d}Z ".encode())
        out.write(line.data)
        out.flush()


def cmd_logs(args: argparse.Namespace) -> int:
    _stream_logs(_engine(), args.container, args.follow, args.tail, args.timestamps)
    return 0


def status_text(c: Any, now: float | None = None) -> str:
    if c.state == "running":
        health = f" ({c.health.status})" if c.health.status else ""
        return f"Up {output.human_duration((now or time.time()) - c.started_at)}{health}"
    if c.state == "exited":
        oom = " (OOM killed)" if c.oom_killed else ""
        return f"Exited ({c.exit_code}){oom} {output.ago(c.finished_at, now)}"
    return "Created"


def _doc(c: Any) -> dict[str, Any]:
    from svc.cli import jsonview

    return jsonview.doc(c)


CONTAINER_TITLES = {"ID": "CONTAINER ID", "RunningFor": "CREATED", "Names": "NAMES"}


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.ports import format_ports
    from svc.v1 import engine_pb2 as epb

    items = _engine().ListContainers(epb.ListContainersRequest(all=args.all)).containers
    if args.quiet:
        for c in items:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    if args.format == "json":
        output.json_lines(_doc(c) for c in items)
        return 0
    from svc.cli import formatter, jsonview

    now = time.time()
    docs = []
    for c in items:
        command = " ".join(c.command)
        docs.append(
            {
                "ID": c.id if args.no_trunc else c.id[:12],
                "Image": c.image,
                "Command": f'"{command if args.no_trunc else output.truncate(command, 20)}"',
                "CreatedAt": jsonview.rfc3339(c.created_at),
                "RunningFor": output.ago(c.created_at, now),
                "Status": status_text(c, now),
                "State": c.state,
                "Ports": format_ports(list(c.spec.ports)),
                "Names": c.name,
                "Name": c.name,
                "Labels": dict(c.labels),
            }
        )
    if formatter.is_template(args.format):
        formatter.render(args.format, docs, CONTAINER_TITLES)
        return 0
    columns = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")
    output.table(
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
        [[d[k] for k in columns] for d in docs],
    )
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    return output.for_each(args.containers, lambda ref: print(engine.StartContainer(epb.ContainerRef(id=ref)).name))


def cmd_stop(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()

    def stop(ref: str) -> None:
        req = epb.StopContainerRequest(id=ref)
        if args.time is not None:
            req.grace_seconds = args.time
        engine.StopContainer(req)
        print(ref)

    return output.for_each(args.containers, stop, parallel=8)


def cmd_kill(args: argparse.Namespace) -> int:
    from svc.units import parse_signal
    from svc.v1 import engine_pb2 as epb

    parse_signal(args.signal)
    engine = _engine()
    return output.for_each(
        args.containers,
        lambda ref: (engine.KillContainer(epb.KillContainerRequest(id=ref, signal=args.signal)), print(ref)),
    )


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    return output.for_each(
        args.containers,
        lambda ref: (engine.RemoveContainer(epb.RemoveContainerRequest(id=ref, force=args.force)), print(ref)),
        parallel=8,
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    docs = []
    code = output.for_each(
        args.containers, lambda ref: docs.append(_doc(engine.InspectContainer(epb.ContainerRef(id=ref))))
    )
    print(json.dumps(docs, indent=2, sort_keys=True))
    return code


def cmd_wait(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    return output.for_each(args.containers, lambda ref: print(engine.WaitContainer(epb.ContainerRef(id=ref)).exit_code))


def cmd_exec(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise InvalidArgument("exec needs a command, e.g. svc container exec web sh -c 'ls /'")
    resp = _engine().Exec(epb.ExecRequest(id=args.container, cmd=command, env=args.env))
    sys.stdout.buffer.write(resp.stdout)
    sys.stdout.flush()
    sys.stderr.buffer.write(resp.stderr)
    return resp.exit_code


def cmd_stats(args: argparse.Namespace) -> int:
    from svc.units import format_size
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    resp = engine.Stats(epb.ListContainersRequest(ids=args.containers))
    names = {c.id: c.name for c in engine.ListContainers(epb.ListContainersRequest(all=True)).containers}
    if args.format == "json":
        output.json_lines(_doc(s) | {"name": names.get(s.id, "")} for s in resp.containers)
        return 0
    from svc.cli import formatter

    docs = []
    for s in resp.containers:
        limit = format_size(s.memory_limit_bytes) if s.memory_limit_bytes else "-"
        docs.append(
            {
                "ID": s.id[:12],
                "Name": names.get(s.id, ""),
                "CPUTime": f"{s.cpu_seconds:.2f}s",
                "MemUsage": f"{format_size(s.memory_bytes)} / {limit}",
                "PIDs": s.pids,
            }
        )
    if formatter.is_template(args.format):
        titles = {"ID": "CONTAINER ID", "MemUsage": "MEM USAGE / LIMIT", "PIDs": "PIDS"}
        formatter.render(args.format, docs, titles)
        return 0
    output.table(["CONTAINER ID", "NAME", "CPU TIME", "MEM USAGE / LIMIT", "PIDS"], [list(d.values()) for d in docs])
    h = resp.host
    print(
        f"host: {h.cpus} CPUs, {h.cpu_percent:.0f}% busy, {format_size(h.memory_available_bytes)} of "
        f"{format_size(h.memory_total_bytes)} memory available"
    )
    return 0
