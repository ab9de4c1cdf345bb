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
