"""A service's UpdateConfig/RollbackConfig and UpdateStatus as Docker's JSON, both ways (pure).

The rule: svc's policy is Swarm's (svc/updatepolicy.py), so every field has its counterpart. Docker
shows the policy a service follows, so an unset field is shown as its default; read back, a value
equal to svc's default leaves the field unset, so a service round-trips exactly and a spec keeps
only what its author chose. The control API validates what is read (updatepolicy.validate).
"""

from __future__ import annotations

from typing import Any

from svc import defaults, updatepolicy
from svc.dockerapi.proto import NS, rfc3339
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb

_FIELDS = {"Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"}


def to_docker(config: cpb.UpdateConfig) -> dict[str, Any]:
    p = updatepolicy.effective(config)
    return {
        "Parallelism": p.parallelism,
        "Delay": round(p.delay * NS),
        "FailureAction": p.failure_action,
        "Monitor": round(p.monitor * NS),
        "MaxFailureRatio": p.max_failure_ratio,
        "Order": p.order,
    }


def from_docker(doc: Any, where: str, out: cpb.UpdateConfig) -> None:
    """Docker's UpdateConfig (None: every default) into `out`; a field equal to svc's default stays unset."""
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where} must be a JSON object")
    for key in doc:
        if key not in _FIELDS:
            raise InvalidArgument(f"{where}.{key} is not supported by svc")

    def number(key: str) -> float:
        value = doc.get(key) or 0
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 2**63:
            raise InvalidArgument(f"{where}.{key} must be a non-negative number")
        return value

    def text(key: str) -> str:
        value = doc.get(key) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}.{key} must be a string")
        return value

    parallelism = number("Parallelism")
    if parallelism != int(parallelism):
        raise InvalidArgument(f"{where}.Parallelism must be an integer")
    if int(parallelism) != defaults.UPDATE_PARALLELISM:
        out.parallelism = int(parallelism)
    if number("Delay") / NS != defaults.UPDATE_DELAY_SECONDS:
        out.delay_seconds = number("Delay") / NS
    if number("Monitor") / NS != defaults.UPDATE_MONITOR_SECONDS:
        out.monitor_seconds = number("Monitor") / NS
    if number("MaxFailureRatio") != defaults.UPDATE_MAX_FAILURE_RATIO:
        out.max_failure_ratio = number("MaxFailureRatio")
    if text("FailureAction") not in ("", defaults.UPDATE_FAILURE_ACTION):
        out.failure_action = text("FailureAction")
    if text("Order") not in ("", defaults.UPDATE_ORDER):
        out.order = text("Order")


def status(s: cpb.UpdateStatus) -> dict[str, Any]:
    """Docker's UpdateStatus: the same states (updating, paused, completed, rollback_*)."""
    out: dict[str, Any] = {"State": s.state, "StartedAt": rfc3339(s.started_at), "Message": s.message}
    if s.completed_at:
        out["CompletedAt"] = rfc3339(s.completed_at)
    return out
