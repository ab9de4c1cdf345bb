"""The Engine API's protocol rules, pure: the version served and negotiation, svc errors -> HTTP
status codes (one table), Docker's `filters` parameter, stdcopy frames, Docker's times and durations.

Status codes as dockerd's, in this one table for both servers: 400 bad input, 404 unknown object,
409 conflict, 501 what svc cannot honour (`Unsupported`, always naming it: never a silent success),
503 unavailable, 500 otherwise. Which one a refusal is, is the caller's: a node refuses a container
option it cannot carry out with Unsupported (501); a manager refuses a spec field svc has no word for
with the control API's InvalidArgument (400), as its service specs are validated.
"""

from __future__ import annotations

import datetime
import json
import struct
from typing import Any

from svc import defaults, errors

API_VERSION = "1.41"  # Debian 12's docker 20.10 client
MIN_API_VERSION = "1.24"
NS = 1_000_000_000
RAW_STREAM = "application/vnd.docker.raw-stream"
STDOUT, STDERR, SYSERR = 1, 2, 3


class Unsupported(errors.SvcError):
    """A request, field or option svc has no counterpart for: 501, naming it."""


_STATUS: dict[type[errors.SvcError], int] = {
    Unsupported: 501,
    errors.InvalidArgument: 400,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.OutOfDate: 409,
    errors.PermissionDenied: 403,
    errors.Unauthenticated: 401,
    errors.Unavailable: 503,
    errors.DeadlineExceeded: 503,
    errors.RuntimeFailure: 500,
}


def http_status(exc: BaseException) -> int:
    """The status code for an error: the one mapping of svc's hierarchy (anything else is 500)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def version_newer(a: str, b: str) -> bool:
    """API version a > b ("1.41" > "1.9")."""

    def key(v: str) -> tuple[int, ...]:
        try:
            return tuple(int(p) for p in v.split("."))
        except ValueError:
            raise errors.InvalidArgument(f"invalid API version {v!r}") from None

    return key(a) > key(b)


def check_version(version: str) -> None:
    """A `/v1.NN` prefix newer than svc serves is refused, as dockerd refuses it (the client negotiates down)."""
    if version and version_newer(version, API_VERSION):
        raise errors.InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )


def ping_headers(swarm: str) -> dict[str, str]:
    """`/_ping`'s headers: what the client negotiates with; `swarm` is inactive, active/worker or active/manager."""
    return {
        "API-Version": API_VERSION,
        "OSType": "linux",
        "Docker-Experimental": "false",
        "Swarm": swarm,
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }


def version_doc(arch: str, kernel: str) -> dict[str, Any]:
    """`/version`: svc's version and the API served (the host's architecture and kernel given)."""
    engine = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    return {
        "Platform": {"Name": f"svc {defaults.VERSION}"},
        "Components": [{"Name": "Engine", "Version": defaults.VERSION, "Details": engine}],
        "Version": defaults.VERSION,
        **engine,
        "GitCommit": "",
        "GoVersion": "",
        "Arch": arch,
        "KernelVersion": kernel,
    }


def filters(raw: str) -> dict[str, list[str]]:
    """Docker's `filters` query parameter: {"k": {"v": true}} (or the old {"k": ["v"]})."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        raise errors.InvalidArgument(f"invalid filters: {raw[:100]!r} is not JSON") from None
    if not isinstance(doc, dict):
        raise errors.InvalidArgument("invalid filters: not a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in doc.items():
        if isinstance(values, dict):
            out[str(key)] = sorted(str(v) for v, on in values.items() if on)
        elif isinstance(values, list):
            out[str(key)] = [str(v) for v in values]
        else:
            raise errors.InvalidArgument(f"invalid filters: {key!r} has no list of values")
    return out


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame (docker's pkg/stdcopy): stream 1 stdout, 2 stderr, 3 an error; then the length."""
    return struct.pack(">BxxxL", stream, len(data)) + data


def rfc3339(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"  # Go's zero time, as Docker shows an unset one
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(ts: float) -> str:
    """A log line's timestamp as `docker logs -t` prints it: Go's RFC3339NanoFixed in UTC (a fraction that
    rounds up to a whole second stays in its second)."""
    whole = int(ts)
    stamp = datetime.datetime.fromtimestamp(whole, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{min(round((ts - whole) * NS), NS - 1):09d}Z"


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, which dockerd uses for a container's Status ("Up 3 minutes")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def since_param(raw: str, what: str = "time") -> float | None:
    """A `since`/`until` query value: unix seconds, fractions allowed ("1700000000.123456789"); "" or 0 is
    unset; InvalidArgument naming `what` otherwise."""
    if not raw or raw == "0":
        return None
    try:
        return float(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {what} {raw!r}: unix seconds expected") from None
