"""Validate a ContainerSpec and resolve it against its image config: what will run, as whom, how.

Pure functions with Docker's precedence rules, so they are tested without a runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from svc import defaults
from svc.errors import InvalidArgument
from svc.units import parse_signal
from svc.v1 import container_pb2 as pb

from .imageconfig import ImageConfig

MIN_MEMORY_BYTES = 6 << 20  # Docker's minimum: smaller limits kill the runtime's own init
NETWORK_MODES = ("bridge", "host", "none")
_HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_ENV_KEY_RE = re.compile(r"^[^=\s]+$")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's default capability set.
DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip
ALL_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip


@dataclass(frozen=True)
class HealthCheck:
    argv: tuple[str, ...]  # what to exec in the container
    interval: float
    timeout: float
    retries: int
    start_period: float


@dataclass(frozen=True)
class Resolved:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    hostname: str
    network: str
    stop_signal: int
    stop_grace: float
    healthcheck: HealthCheck | None
    capabilities: tuple[str, ...]


def validate_name(name: str) -> None:
    if name and not _NAME_RE.match(name):
        raise InvalidArgument(f"invalid container name {name!r}: use letters, digits, '_', '.', '-'")


def normalize_cap(name: str) -> str:
    cap = name.strip().upper()
    if cap == "ALL":
        return cap
    if not cap.startswith("CAP_"):
        cap = "CAP_" + cap
    if cap not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability {name!r}")
    return cap


def capabilities(cap_add: list[str], cap_drop: list[str]) -> tuple[str, ...]:
    """Docker's rule: start from the default set (or ALL), add, then drop (drop ALL empties it)."""
    adds = [normalize_cap(c) for c in cap_add]
    drops = [normalize_cap(c) for c in cap_drop]
    caps = list(ALL_CAPS) if "ALL" in adds else list(DEFAULT_CAPS)
    caps += [c for c in adds if c != "ALL" and c not in caps]
    if "ALL" in drops:
        return tuple(c for c in adds if c != "ALL")
    return tuple(c for c in caps if c not in drops)


def _merge_env(image_env: tuple[str, ...], env: list[str]) -> tuple[str, ...]:
    merged: dict[str, str] = {}
    for item in (*image_env, *env):
        key, sep, _ = item.partition("=")
        if not sep or not _ENV_KEY_RE.match(key):
            raise InvalidArgument(f"invalid environment variable {item!r}: use KEY=VALUE")
        merged[key] = item
    if "PATH" not in merged:
        merged["PATH"] = DEFAULT_PATH
    return tuple(merged.values())


def _healthcheck(spec: pb.ContainerSpec, image: ImageConfig) -> HealthCheck | None:
    if spec.no_healthcheck:
        return None
    if spec.HasField("healthcheck") and spec.healthcheck.test:
        hc = spec.healthcheck
        test, interval, timeout = tuple(hc.test), hc.interval_seconds, hc.timeout_seconds
        retries, start = hc.retries, hc.start_period_seconds
    elif image.healthcheck is not None:
        ih = image.healthcheck
        test, interval, timeout, retries, start = ih.test, ih.interval, ih.timeout, ih.retries, ih.start_period
        if spec.HasField("healthcheck"):  # per-container timing overrides the image's
            hc = spec.healthcheck
            interval = hc.interval_seconds or interval
            timeout = hc.timeout_seconds or timeout
            retries = hc.retries or retries
            start = hc.start_period_seconds or start
    else:
        return None
    kind, rest = test[0], test[1:]
    if kind == "NONE":
        return None
    if kind == "CMD-SHELL":
        if len(rest) != 1 or not rest[0]:
            raise InvalidArgument("health check CMD-SHELL takes exactly one command string")
        argv: tuple[str, ...] = ("/bin/sh", "-c", rest[0])
    elif kind == "CMD":
        if not rest:
            raise InvalidArgument("health check CMD needs a command")
        argv = rest
    else:
        raise InvalidArgument(f"health check test must start with NONE, CMD or CMD-SHELL, not {kind!r}")
    for value, what in ((interval, "interval"), (timeout, "timeout"), (start, "start period")):
        if value < 0:
            raise InvalidArgument(f"health check {what} must not be negative")
    return HealthCheck(
        argv=argv,
        interval=interval or defaults.HEALTH_INTERVAL_SECONDS,
        timeout=timeout or defaults.HEALTH_TIMEOUT_SECONDS,
        retries=retries or defaults.HEALTH_RETRIES,
        start_period=start or defaults.HEALTH_START_PERIOD_SECONDS,
    )


def validate_ports(ports: list[pb.PortMapping], network: str) -> None:
    seen = set()
    for p in ports:
        if not 1 <= p.container_port <= 65535:
            raise InvalidArgument(f"invalid container port {p.container_port}: must be 1-65535")
        if p.host_port > 65535:
            raise InvalidArgument(f"invalid host port {p.host_port}: must be 1-65535")
        if (p.protocol or "tcp") not in ("tcp", "udp"):
            raise InvalidArgument(f"invalid protocol {p.protocol!r}: use tcp or udp")
        key = (p.host_ip, p.host_port, p.protocol or "tcp")
        if p.host_port and key in seen:
            raise InvalidArgument(f"host port {p.host_port}/{p.protocol or 'tcp'} is published twice")
        seen.add(key)
    if ports and network == "none":
        raise InvalidArgument("ports cannot be published with --network none")


def validate(spec: pb.ContainerSpec) -> None:
    """Checks that need no image: everything the spec says on its own."""
    network = spec.network or "bridge"
    if network not in NETWORK_MODES:
        raise InvalidArgument(f"unknown network {spec.network!r}: use bridge, host or none")
    validate_ports(list(spec.ports), network)
    res = spec.resources
    if res.memory_bytes and res.memory_bytes < MIN_MEMORY_BYTES:
        raise InvalidArgument("memory limit too low: the minimum is 6MiB")
    if res.memory_bytes < 0 or res.nano_cpus < 0 or res.pids_limit < 0:
        raise InvalidArgument("resource limits must not be negative")
    if spec.hostname and not _HOSTNAME_RE.match(spec.hostname):
        raise InvalidArgument(f"invalid hostname {spec.hostname!r}")
    if spec.workdir and not spec.workdir.startswith("/"):
        raise InvalidArgument(f"working directory {spec.workdir!r} must be an absolute path")
    if spec.stop_signal:
        parse_signal(spec.stop_signal)
    if spec.stop_grace_seconds < 0:
        raise InvalidArgument("stop grace period must not be negative")
    capabilities(list(spec.cap_add), list(spec.cap_drop))
    for key in spec.labels:
        if not key:
            raise InvalidArgument("label keys must not be empty")


def resolve(spec: pb.ContainerSpec, image: ImageConfig, container_id: str) -> Resolved:
    """What the container runs: Docker's rules for entrypoint, cmd, env, user and the rest."""
    validate(spec)
    args = (*spec.entrypoint, *spec.cmd) if spec.entrypoint else (*image.entrypoint, *(spec.cmd or image.cmd))
    if not args or not args[0]:
        raise InvalidArgument("no command specified: the image has no Cmd or Entrypoint; give one")
    workdir = spec.workdir or image.workdir or "/"
    if not workdir.startswith("/"):
        workdir = "/" + workdir
    network = spec.network or "bridge"
    return Resolved(
        args=tuple(args),
        env=_merge_env(image.env, list(spec.env)),
        cwd=workdir,
        user=spec.user or image.user,
        hostname=spec.hostname or container_id[:12],
        network=network,
        stop_signal=parse_signal(spec.stop_signal or image.stop_signal or defaults.STOP_SIGNAL),
        stop_grace=spec.stop_grace_seconds or defaults.STOP_GRACE_SECONDS,
        healthcheck=_healthcheck(spec, image),
        capabilities=capabilities(list(spec.cap_add), list(spec.cap_drop)),
    )
