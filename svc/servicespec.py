"""Validate a ServiceSpec before anything is written (the store trusts what it is given). Pure: the
managers validate every spec with it, and `svc stack deploy` checks a whole stack before its first write."""

from __future__ import annotations

import re

from svc import constraints, containerspec, defaults, reference, updatepolicy
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb

_NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$")
MODES = ("replicated", "global")
RESTART_CONDITIONS = ("any", "on-failure", "none")


def validate(spec: cpb.ServiceSpec) -> cpb.ServiceSpec:
    """Check and normalise a spec (defaults filled in); InvalidArgument naming the problem."""
    out = cpb.ServiceSpec()
    out.CopyFrom(spec)
    if not _NAME_RE.match(out.name):
        raise InvalidArgument(f"invalid service name {out.name!r}: use letters, digits, '-' and '_' (up to 63)")
    out.mode = out.mode or "replicated"
    if out.mode not in MODES:
        raise InvalidArgument(f"invalid mode {out.mode!r}: use replicated or global")
    if out.mode == "global" and out.replicas:
        raise InvalidArgument("a global service runs one task per node: do not give --replicas")
    if out.replicas > defaults.MAX_REPLICAS:
        raise InvalidArgument(f"replicas must be at most {defaults.MAX_REPLICAS}")
    if not out.task.image:
        raise InvalidArgument("a service needs an image")
    reference.check(out.task.image)
    containerspec.validate(out.task)  # before the whole-spec size: its errors name the field
    containerspec.validate_service_size(out.ByteSize())
    constraints.check_all(list(out.placement.constraints))
    for pref in out.placement.preferences:
        constraints.check_spread(pref.spread)
    updatepolicy.validate(out.update_config)
    updatepolicy.validate(out.rollback_config, rollback=True)
    res = out.reservations
    if res.memory_bytes < 0 or res.nano_cpus < 0:
        raise InvalidArgument("reservations must not be negative")
    if out.endpoint_mode not in ("", "vip", "dnsrr"):
        raise InvalidArgument(f"invalid endpoint mode {out.endpoint_mode!r}: use vip or dnsrr")
    for a in out.networks:
        if not a.target:
            raise InvalidArgument("a network attachment needs a network name or id")
        for alias in a.aliases:
            if not _NAME_RE.match(alias):
                raise InvalidArgument(f"invalid network alias {alias!r}: use letters, digits, '-' and '_'")
    out.restart.condition = out.restart.condition or "any"
    if out.restart.condition not in RESTART_CONDITIONS:
        raise InvalidArgument(f"invalid restart condition {out.restart.condition!r}: use any, on-failure or none")
    if out.restart.HasField("delay_seconds") and out.restart.delay_seconds < 0:
        raise InvalidArgument("restart delay must not be negative")
    return out
