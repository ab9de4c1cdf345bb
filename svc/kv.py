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


# The filters each list command supports (`svc ls`, `svc ps`, `svc node ls`), checked by the CLI and the
# managers alike: an unknown key is an error, as in docker, not a filter silently ignored.
SERVICE_FILTERS = ("id", "label", "mode", "name")
TASK_FILTERS = ("_up-to-date", "desired-state", "id", "node")  # _up-to-date=true: docker's, its CLI's waits
NODE_FILTERS = ("availability", "hostname", "id", "role")
NETWORK_FILTERS = ("driver", "id", "label", "name")


def parse_filters(items: list[str], valid: tuple[str, ...]) -> dict[str, str]:
    """{KEY: VALUE} of `-f KEY=VALUE` items; docker's `Invalid filter 'KEY'` for a key not in `valid`."""
    out = parse_kv(items, "filter")
    for key in out:
        if key not in valid:
            raise InvalidArgument(f"Invalid filter {key!r} (valid: {', '.join(valid)})")
    return out
