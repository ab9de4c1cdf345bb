"""Placement constraints as Swarm spells them: `node.labels.zone==eu`, `node.role!=manager` (pure).

The syntax rule, shared by the CLI (a stack is checked before its first write) and the managers
(manager/constraints.py matches the parsed constraints against nodes).
"""

from __future__ import annotations

import re

from svc.errors import InvalidArgument

_RE = re.compile(r"^\s*([a-zA-Z0-9_.\-]+)\s*(==|!=)\s*(.+?)\s*$")
FIXED = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")


def check(text: str) -> tuple[str, str, str]:
    """(key, op, value) of a constraint; InvalidArgument naming what is wrong."""
    m = _RE.match(text)
    if not m:
        raise InvalidArgument(f"malformed constraint {text!r}: use KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==eu")
    key, op, value = m.groups()
    if key not in FIXED and not key.startswith(("node.labels.", "engine.labels.")):
        raise InvalidArgument(
            f"unknown constraint key {key!r}: use node.id, node.hostname, node.role, "
            "node.platform.os, node.platform.arch, node.labels.KEY or engine.labels.KEY"
        )
    if key.endswith(".labels.") or not value:
        raise InvalidArgument(f"malformed constraint {text!r}")
    return key, op, value


def check_all(texts: list[str]) -> None:
    for t in texts:
        check(t)


def check_spread(descriptor: str) -> str:
    """A placement preference's spread descriptor (`node.labels.zone`, as Swarm takes it); the label key."""
    if not descriptor.startswith(("node.labels.", "engine.labels.")) or descriptor.endswith(".labels."):
        raise InvalidArgument(
            f"invalid placement preference spread={descriptor!r}: use spread=node.labels.KEY or engine.labels.KEY"
        )
    return descriptor


def parse_preference(text: str) -> str:
    """`--placement-pref spread=node.labels.zone` -> the descriptor; the only strategy is spread (Swarm's)."""
    strategy, sep, descriptor = text.partition("=")
    if not sep or strategy.strip().lower() != "spread":
        raise InvalidArgument(f"invalid --placement-pref {text!r}: use spread=node.labels.KEY")
    return check_spread(descriptor.strip())
