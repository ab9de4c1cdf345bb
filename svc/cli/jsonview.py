"""Protobuf messages as the CLI's JSON, in one place: integers as JSON numbers, times as RFC 3339.

Rule: every JSON the CLI prints (`inspect`, `--format json`, the documents `--format` templates
see) comes from `doc()`. protobuf's MessageToDict would print 64-bit integers as strings and our
times are epoch seconds (doubles); docker prints integers and `2026-12-01T14:09:49.123456Z`.
A time field is a double named `*_at`, `timestamp`, `time`, `start`, `end` or `rotation_started`;
an unset (0) time is docker's zero time, `0001-01-01T00:00:00Z`. Field names stay protobuf's.
"""

from __future__ import annotations

import base64
import time
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
_TIME_NAMES = {"timestamp", "time", "start", "end", "rotation_started"}


def is_time_field(name: str) -> bool:
    return name.endswith("_at") or name in _TIME_NAMES


def rfc3339(ts: float) -> str:
    """Epoch seconds as Go's RFC3339Nano in UTC (fraction to the microsecond a double holds, no trailing zeros)."""
    if not ts:
        return ZERO_TIME
    micros = round(ts * 1_000_000)
    seconds, frac = divmod(micros, 1_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac * 1000:09d}".rstrip("0")
    return text + "Z"


def doc(message: Any, defaults: bool = False) -> dict[str, Any]:
    """A message as a JSON-shaped dict; with `defaults`, scalar, list and map fields at their zero value too
    (as docker's inspect shows every field), but not unset sub-messages or unset optional scalars."""
    out: dict[str, Any] = {}
    if defaults:
        fields = [
            f
            for f in message.DESCRIPTOR.fields
            if not (f.has_presence and not _is_repeated(f)) or message.HasField(f.name)
        ]
    else:
        fields = [f for f, _ in message.ListFields()]
    for f in fields:
        out[f.name] = _value(f, getattr(message, f.name), defaults)
    return out


def _is_repeated(f: Any) -> bool:
    return bool(f.is_repeated)


def _value(f: Any, value: Any, defaults: bool) -> Any:
    if _is_repeated(f):
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            return {str(k): _scalar(vf, v, defaults) for k, v in value.items()}
        return [_scalar(f, v, defaults) for v in value]
    return _scalar(f, value, defaults)


def _scalar(f: Any, value: Any, defaults: bool) -> Any:
    if f.type == f.TYPE_MESSAGE:
        return doc(value, defaults)
    if f.type == f.TYPE_ENUM:
        named = f.enum_type.values_by_number.get(value)
        return named.name if named is not None else value
    if f.type == f.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
        if is_time_field(f.name):
            return rfc3339(value)
        return int(value) if float(value).is_integer() else value
    return value
