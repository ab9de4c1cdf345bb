"""Sysctls, ulimits and extra /etc/hosts entries of a container: their syntax and what may be set (pure).

Rules. Sysctls: only those the kernel namespaces per container, as Docker's (and runc's) allow list:
`kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall, kernel.shmmax, kernel.shmmni,
kernel.shm_rmid_forced`, `fs.mqueue.*` (the IPC namespace) and `net.*` (the network namespace, so not
with host networking); any other is refused by name, since it would change the host. Ulimits: Docker's
names (`nofile=1024[:2048]`, -1 unlimited), soft at most hard. Extra hosts: `HOST:IP` or `HOST=IP`
(docker's --add-host, compose's extra_hosts), stored as the "IP HOST" line /etc/hosts gets.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from svc.errors import InvalidArgument

IPC_SYSCTLS = (
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced",
)  # fmt: skip
ULIMITS = (
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
UNLIMITED = -1
_SYSCTL_RE = re.compile(r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")
_HOST_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$")


def check_sysctl(name: str, value: str, network: str) -> None:
    if not _SYSCTL_RE.match(name):
        raise InvalidArgument(f"invalid sysctl {name!r}: use a dotted name, e.g. net.ipv4.ip_forward")
    if any(c in value for c in "\n\0"):
        raise InvalidArgument(f"invalid value for sysctl {name}")
    if name.startswith("net."):
        if network == "host":
            raise InvalidArgument(f"sysctl {name} cannot be set with host networking: it would change the host's")
        return
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        return
    raise InvalidArgument(
        f"sysctl {name} is not allowed: only namespaced ones (net.*, fs.mqueue.*, kernel.shm*/msg*/sem) can be set"
    )


def parse_sysctl(item: str) -> tuple[str, str]:
    """`NAME=VALUE` (docker's --sysctl)."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise InvalidArgument(f"invalid sysctl {item!r}: use NAME=VALUE")
    return name.strip(), value.strip()


def _limit(text: str, item: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise InvalidArgument(f"invalid ulimit {item!r}: limits are whole numbers (-1: unlimited)") from None
    if n < UNLIMITED:
        raise InvalidArgument(f"invalid ulimit {item!r}: limits are whole numbers (-1: unlimited)")
    return n


def check_ulimit(name: str, soft: int, hard: int) -> None:
    if name not in ULIMITS:
        raise InvalidArgument(f"unknown ulimit {name!r}: use one of {', '.join(ULIMITS)}")
    if soft < UNLIMITED or hard < UNLIMITED:
        raise InvalidArgument(f"ulimit {name}: limits are whole numbers (-1: unlimited)")
    if hard != UNLIMITED and (soft == UNLIMITED or soft > hard):
        raise InvalidArgument(f"ulimit {name}: the soft limit {soft} is above the hard limit {hard}")


def parse_ulimit(item: str) -> tuple[str, int, int]:
    """`NAME=SOFT[:HARD]` (docker's --ulimit); one number sets both."""
    name, sep, rest = item.partition("=")
    if not sep or not rest:
        raise InvalidArgument(f"invalid ulimit {item!r}: use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
    soft_text, _, hard_text = rest.partition(":")
    soft = _limit(soft_text, item)
    hard = _limit(hard_text, item) if hard_text else soft
    check_ulimit(name, soft, hard)
    return name, soft, hard


def compose_ulimit(name: str, value: Any) -> tuple[str, int, int]:
    """compose's `ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}`."""
    if isinstance(value, dict):
        soft, hard = value.get("soft"), value.get("hard")
    else:
        soft = hard = value
    if not isinstance(soft, int) or not isinstance(hard, int) or isinstance(soft, bool) or isinstance(hard, bool):
        raise InvalidArgument(f"ulimits.{name}: give a number or soft: and hard: numbers")
    check_ulimit(name, soft, hard)
    return name, soft, hard


def host_line(item: str) -> str:
    """`HOST:IP` or `HOST=IP` as the "IP HOST" line of /etc/hosts; an "IP HOST" line is kept as is."""
    if " " in item.strip():
        ip, _, host = item.strip().partition(" ")
        host = host.strip()
    else:
        host, sep, ip = item.partition("=")
        if not sep:
            host, sep, ip = item.partition(":")
        if not sep:
            raise InvalidArgument(f"invalid extra host {item!r}: use HOST:IP")
    host, ip = host.strip(), ip.strip().strip("[]")
    if ip == "host-gateway":
        raise InvalidArgument(f"extra host {host}: host-gateway is not supported by svc: give the address")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid extra host {item!r}: {ip!r} is not an IP address") from None
    for name in host.split():
        if not _HOST_RE.match(name):
            raise InvalidArgument(f"invalid extra host {item!r}: {name!r} is not a host name")
    if not host:
        raise InvalidArgument(f"invalid extra host {item!r}: no host name")
    return f"{ip} {host}"


def validate(spec: Any) -> None:
    """The sysctls, ulimits and extra hosts of a ContainerSpec (containerspec.validate calls it)."""
    network = spec.network or "bridge"
    for name, value in sorted(spec.sysctls.items()):
        check_sysctl(name, value, network)
    seen = set()
    for u in spec.ulimits:
        if u.name in seen:
            raise InvalidArgument(f"ulimit {u.name} is given twice")
        seen.add(u.name)
        check_ulimit(u.name, u.soft, u.hard)
    for line in spec.extra_hosts:
        if host_line(line) != line:
            raise InvalidArgument(f"invalid extra host {line!r}: use HOST:IP")
