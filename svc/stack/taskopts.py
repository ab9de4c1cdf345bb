"""A compose service's `init`, `tmpfs`, `sysctls`, `ulimits` and `extra_hosts` on its ContainerSpec (pure).

Rule: as docker's convert (and compose's loader) read them: `init: true`; `tmpfs: /run` or a list, each
`/path[:size=64m,mode=1777]`, a tmpfs mount (svc/mountspec.py); `sysctls` and `extra_hosts` as a mapping
or a list (`net.core.somaxconn=1024`, `db:10.0.0.5` or `db=10.0.0.5`); `ulimits: {nproc: 65535, nofile:
{soft: 20000, hard: 40000}}`. What may be set is svc/kernelopts.py's rule, checked here with the key's path.
"""

from __future__ import annotations

from typing import Any

from svc import kernelopts, mountspec
from svc.errors import InvalidArgument
from svc.stack.loader import as_map
from svc.units import parse_size

TMPFS_FLAGS = ("rw", "nosuid", "nodev", "noexec")  # svc's tmpfs mounts have them all (but rw: no ro tmpfs)


def tmpfs_mount(item: str, where: str) -> Any:
    """`/path[:size=64m,mode=1777]` (docker's --tmpfs) as a Mount."""
    from svc.v1 import container_pb2 as pb

    target, _, opts = str(item).partition(":")
    m = pb.Mount(type="tmpfs", target=target)
    for opt in filter(None, opts.split(",")):
        key, sep, value = opt.partition("=")
        if key == "size" and sep:
            m.tmpfs_size_bytes = parse_size(value, f"{where} size")
        elif key == "mode" and sep:
            try:
                m.tmpfs_mode = int(value, 8)
            except ValueError:
                raise InvalidArgument(f"{where}: mode must be octal (got {value!r})") from None
        elif opt not in TMPFS_FLAGS:
            raise InvalidArgument(f"{where}: {opt!r} is not supported (size=, mode=)")
    try:
        mountspec.validate_mount(m)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None
    return m


def apply(task: Any, svc: dict[str, Any], where: str) -> None:
    """The five keys of compose service `svc` onto ContainerSpec `task` (after its network is known)."""
    task.init = bool(svc.get("init"))
    items = svc.get("tmpfs") or []
    for i, item in enumerate([items] if isinstance(items, str) else items):
        task.mounts.append(tmpfs_mount(item, f"{where}.tmpfs.{i}"))
    for name, value in sorted(as_map(svc.get("sysctls")).items()):
        try:
            kernelopts.check_sysctl(name, "" if value is None else str(value), task.network or "bridge")
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}.sysctls: {exc}") from None
        task.sysctls[name] = "" if value is None else str(value)
    for name, value in sorted((svc.get("ulimits") or {}).items()):
        try:
            _, soft, hard = kernelopts.compose_ulimit(name, value)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}.ulimits: {exc}") from None
        task.ulimits.add(name=name, soft=soft, hard=hard)
    hosts = svc.get("extra_hosts") or []
    pairs = [f"{h}={ip}" for h, ip in hosts.items()] if isinstance(hosts, dict) else [str(h) for h in hosts]
    for i, item in enumerate(pairs):
        try:
            task.extra_hosts.append(kernelopts.host_line(item))
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}.extra_hosts.{i}: {exc}") from None
