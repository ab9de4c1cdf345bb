"""`KEY=VALUE` lists as the CLI and the daemons take them (labels, filters)."""

from __future__ import annotations

from svc.errors import InvalidArgument


def parse_kv(items: list[str], what: str, require_equals: bool = True) -> dict[str, str]:
    """{KEY: VALUE}; InvalidArgument naming `what` for an item without a key (or without '=')."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or (require_equals and not sep):
            raise InvalidArgument(f"invalid {what} {item!r}: use KEY=VALUE")
        out[key] = value
    return out
