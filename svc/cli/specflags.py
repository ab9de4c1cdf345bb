"""The container flags shared by `svc container run` and `svc create` (a service's task template)."""

from __future__ import annotations

import argparse
import os

from svc.cli import kernelflags
from svc.errors import InvalidArgument
from svc.kv import parse_kv
from svc.ports import parse_publish
from svc.units import parse_cpus, parse_duration, parse_signal, parse_size


def add_container_flags(p: argparse.ArgumentParser, service: bool = False) -> None:
    mem_flag = "--limit-memory" if service else "--memory"
    cpu_flag = "--limit-cpu" if service else "--cpus"
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE", help="set an environment variable")
    p.add_argument(
        "--env-file", action="append", default=[], metavar="FILE", help="read KEY=VALUE lines from a file (repeatable)"
    )
    p.set_defaults(publish_pick=service)
    p.add_argument(
        "-p",
        "--publish",
        action="append",
        default=[],
        metavar="[IP:]HOST:CONTAINER[/udp]",
        help="publish a container port on the host"
        + (" (CONTAINER alone: the cluster picks from 30000-32767)" if service else ""),
    )
    p.add_argument(
        mem_flag, "-m" if not service else "--memory", dest="memory", metavar="SIZE", help="memory limit, e.g. 64m"
    )
    p.add_argument(cpu_flag, dest="cpus", metavar="N", help="CPU limit, e.g. 0.5")
    p.add_argument("--pids-limit", type=int, default=0, help="maximum number of processes")
    if service:
        p.add_argument(
            "--network",
            action="append",
            default=[],
            metavar="NETWORK",
            help="an overlay network to join (NAME or name=NAME,alias=ALIAS; repeatable); bridge, host or none "
            "for the node's own network",
        )
    else:
        p.add_argument("--network", default="", help="bridge (default), host or none")
    p.add_argument("--entrypoint", help="override the image's entrypoint")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("-u", "--user", default="", help="USER[:GROUP] or UID[:GID]")
    p.add_argument("--hostname", default="", help="container hostname")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE", help="container label")
    p.add_argument("--cap-add", action="append", default=[], help="add a Linux capability")
    p.add_argument("--cap-drop", action="append", default=[], help="drop a Linux capability")
    p.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="type=volume|bind|tmpfs,source=,target=[,readonly]",
        help="a named volume, a host path or a tmpfs in the container (repeatable)",
    )
    if not service:
        p.add_argument(
            "-v", "--volume", action="append", default=[], metavar="NAME|/HOST:/PATH[:ro]", help="docker's short form"
        )
    p.add_argument(
        "--security-opt",
        action="append",
        default=[],
        metavar="seccomp=unconfined|FILE",
        help="seccomp: unconfined (no filter) or a profile FILE in Docker's format (default: Docker's profile)",
    )
    p.add_argument("--runtime", default="", help="OCI runtime: runc or crun")
    p.add_argument("--stop-signal", default="", help="signal to stop the container (default: image's, else SIGTERM)")
    p.add_argument(
        "--stop-timeout",
        "--stop-grace-period",
        dest="stop_timeout",
        default="",
        help="seconds to wait before SIGKILL (default 10s)",
    )
    p.add_argument("--health-cmd", help="command to run to check health (run by /bin/sh -c)")
    p.add_argument("--health-interval", help="time between checks (default 30s)")
    p.add_argument("--health-timeout", help="maximum time for one check (default 30s)")
    p.add_argument("--health-retries", type=int, help="consecutive failures for unhealthy (default 3)")
    p.add_argument("--health-start-period", help="grace period before failures count")
    p.add_argument("--no-healthcheck", action="store_true", help="disable the image's health check")
    kernelflags.add_flags(p)  # --init, --sysctl, --ulimit, --add-host


def _env(items: list[str]) -> list[str]:
    """Docker's rule: `-e KEY` takes KEY's value from the caller's environment, if set."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
        elif not item:
            raise InvalidArgument("invalid environment variable '': use KEY=VALUE")
    return out


def env_file(path: str) -> list[str]:
    """docker's --env-file: KEY=VALUE per line, verbatim after `=`; `#` lines and blank lines skipped;
    a bare KEY takes the caller's value (left out if unset)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InvalidArgument(f"--env-file: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"--env-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for number, raw in enumerate(lines, 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"--env-file {path}:{number}: invalid variable name {key!r}")
        if sep:
            out.append(f"{key}={value}")
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


def spec_from_args(args: argparse.Namespace, image: str, command: list[str]):  # type: ignore[no-untyped-def]
    from svc import seccompprofile
    from svc.v1 import container_pb2 as pb

    spec = pb.ContainerSpec(
        image=image,
        cmd=command,
        env=[e for path in args.env_file for e in env_file(path)] + _env(args.env),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        network=node_network(args.network),
        labels=parse_kv(args.label, "label", require_equals=False),
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        read_only=args.read_only,
        runtime=args.runtime,
        no_healthcheck=args.no_healthcheck,
    )
    seccomp = seccompprofile.from_security_opts(args.security_opt)
    if seccomp is not None:
        spec.seccomp.CopyFrom(seccomp)
    if args.entrypoint is not None:
        spec.entrypoint[:] = [args.entrypoint] if args.entrypoint else []
    kernelflags.apply(args, spec)
    from svc.mountspec import parse_mount, parse_volume_flag, validate_mounts

    spec.mounts.extend(parse_volume_flag(v) for v in getattr(args, "volume", []))
    spec.mounts.extend(parse_mount(m) for m in args.mount)
    validate_mounts(list(spec.mounts))
    for p in args.publish:
        spec.ports.append(parse_publish(p, pick=getattr(args, "publish_pick", False)))
    if args.memory:
        spec.resources.memory_bytes = parse_size(args.memory, "memory limit")
    if args.cpus:
        spec.resources.nano_cpus = parse_cpus(args.cpus)
    if args.pids_limit:
        if args.pids_limit < 0:
            raise InvalidArgument("--pids-limit must not be negative")
        spec.resources.pids_limit = args.pids_limit
    if args.stop_signal:
        parse_signal(args.stop_signal)
        spec.stop_signal = args.stop_signal
    if args.stop_timeout:
        spec.stop_grace_seconds = parse_duration(args.stop_timeout, "stop timeout")
    if args.health_cmd is not None or any(
        v is not None
        for v in (args.health_interval, args.health_timeout, args.health_retries, args.health_start_period)
    ):
        hc = spec.healthcheck
        if args.health_cmd:
            hc.test[:] = ["CMD-SHELL", args.health_cmd]
        if args.health_interval:
            hc.interval_seconds = parse_duration(args.health_interval, "health interval")
        if args.health_timeout:
            hc.timeout_seconds = parse_duration(args.health_timeout, "health timeout")
        if args.health_retries is not None:
            if args.health_retries < 0:
                raise InvalidArgument("--health-retries must not be negative")
            hc.retries = args.health_retries
        if args.health_start_period:
            hc.start_period_seconds = parse_duration(args.health_start_period, "health start period")
    return spec


NODE_NETWORKS = ("bridge", "host", "none")


def node_network(value: str | list[str]) -> str:
    """The node-local network mode among `--network` values (a service's others name overlays)."""
    if isinstance(value, str):
        return value
    modes = [v for v in value if v in NODE_NETWORKS]
    if len(modes) > 1:
        raise InvalidArgument(f"--network {modes[0]} and --network {modes[1]} cannot be combined")
    return modes[0] if modes else ""


def overlay_networks(values: list[str]) -> list[str]:
    return [v for v in values if v not in NODE_NETWORKS]


def parse_attachment(text: str) -> tuple[str, list[str]]:
    """`--network NAME` or `--network name=NAME,alias=A[,alias=B]` (docker's long form)."""
    if "=" not in text:
        return text, []
    target, aliases = "", []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise InvalidArgument(f"invalid --network {text!r}: use NAME or name=NAME,alias=ALIAS")
        if key in ("name", "target"):
            target = value
        elif key == "alias":
            aliases.append(value)
        else:
            raise InvalidArgument(f"invalid --network {text!r}: unknown key {key!r} (name, alias)")
    if not target:
        raise InvalidArgument(f"invalid --network {text!r}: name= is missing")
    return target, aliases
