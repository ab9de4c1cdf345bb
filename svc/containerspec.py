"""ContainerSpec rules that need no image and no host: shared by the engine and the managers.

A service's task template is validated by the manager with exactly the checks the node's
engine applies, so a bad spec is refused at `svc create`, not on every node later.
"""

from __future__ import annotations

import re

from svc import defaults, kernelopts, mountspec, seccompprofile
from svc.errors import InvalidArgument
from svc.units import parse_signal
from svc.v1 import container_pb2 as pb

MIN_MEMORY_BYTES = 6 << 20  # Docker's minimum: smaller limits kill the runtime's own init
NETWORK_MODES = ("bridge", "host", "none")
_HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,61}[a-zA-Z0-9])?$")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
_ENV_KEY_RE = re.compile(r"^[^=\s]+$")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's default capability set.
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
ALL_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)


def env_key(item: str) -> str:
    """The KEY of a `KEY=VALUE` environment entry; InvalidArgument if it is not one."""
    key, sep, _ = item.partition("=")
    if not sep or not _ENV_KEY_RE.match(key):
        raise InvalidArgument(f"invalid environment variable {item!r}: use KEY=VALUE")
    return key


def _kib(n: int) -> str:
    return f"{n >> 10} KiB"


def validate_env(env: list[str]) -> None:
    """KEY=VALUE entries, each and all together within the documented limits (svc/defaults.py)."""
    total = 0
    for item in env:
        key = env_key(item)
        size = len(item.encode())
        if size > defaults.ENV_ENTRY_MAX_BYTES:
            raise InvalidArgument(
                f"environment variable {key} is {size} bytes: the limit is {_kib(defaults.ENV_ENTRY_MAX_BYTES)} "
                "per KEY=VALUE (ENV_ENTRY_MAX_BYTES)"
            )
        total += size
    if total > defaults.ENV_TOTAL_MAX_BYTES:
        raise InvalidArgument(
            f"the environment is {total} bytes: the limit is {_kib(defaults.ENV_TOTAL_MAX_BYTES)} "
            "for all variables together (ENV_TOTAL_MAX_BYTES)"
        )


def validate_user(user: str) -> None:
    """Docker's forms: NAME, UID, NAME:GROUP, UID:GID (an empty string: the image's user)."""
    if not user:
        return
    parts = user.split(":")
    if len(parts) > 2 or any(not p or any(c.isspace() or c == "\0" for c in p) for p in parts):
        raise InvalidArgument(f"invalid user {user!r}: use NAME, UID, NAME:GROUP or UID:GID")


def validate_runtime(runtime: str) -> None:
    if runtime and runtime not in defaults.KNOWN_RUNTIMES:
        raise InvalidArgument(f"unknown runtime {runtime!r}: use {' or '.join(defaults.KNOWN_RUNTIMES)}")


def validate_service_size(spec_bytes: int) -> None:
    """A whole ServiceSpec, serialised (checked by the CLI and the managers)."""
    if spec_bytes > defaults.SERVICE_SPEC_MAX_BYTES:
        raise InvalidArgument(
            f"the service spec is {spec_bytes} bytes: the limit is {_kib(defaults.SERVICE_SPEC_MAX_BYTES)} "
            "(SERVICE_SPEC_MAX_BYTES)"
        )


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
    seccompprofile.validate(spec.seccomp)
    validate_env(list(spec.env))
    validate_user(spec.user)
    validate_runtime(spec.runtime)
    mountspec.validate_mounts(list(spec.mounts))
    kernelopts.validate(spec)
    for key in spec.labels:
        if not key:
            raise InvalidArgument("label keys must not be empty")
