"""Placement constraints as Swarm spells them: `node.labels.zone==eu`, `node.role!=manager`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from svc.errors import InvalidArgument

from .store.objects import NodeObj

_RE = re.compile(r"^\s*([a-zA-Z0-9_.\-]+)\s*(==|!=)\s*(.+?)\s*$")
_FIXED = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")


@dataclass(frozen=True)
class Constraint:
    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"

    def matches(self, node: NodeObj) -> bool:
        actual = _value(node, self.key)
        equal = actual is not None and actual.lower() == self.value.lower()
        return equal if self.op == "==" else not equal


def _value(node: NodeObj, key: str) -> str | None:
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return node.hostname
    if key == "node.role":
        return node.role
    if key == "node.platform.os":
        return node.description.os
    if key == "node.platform.arch":
        return node.description.architecture
    if key.startswith("node.labels."):
        return node.labels.get(key[len("node.labels.") :])
    if key.startswith("engine.labels."):
        return node.description.engine_labels.get(key[len("engine.labels.") :])
    return None


def parse(text: str) -> Constraint:
    m = _RE.match(text)
    if not m:
        raise InvalidArgument(f"malformed constraint {text!r}: use KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==eu")
    key, op, value = m.groups()
    if key not in _FIXED and not key.startswith(("node.labels.", "engine.labels.")):
        raise InvalidArgument(
            f"unknown constraint key {key!r}: use node.id, node.hostname, node.role, "
            "node.platform.os, node.platform.arch, node.labels.KEY or engine.labels.KEY"
        )
    if key.endswith(".labels.") or not value:
        raise InvalidArgument(f"malformed constraint {text!r}")
    return Constraint(key, op, value)


def parse_all(texts: list[str]) -> list[Constraint]:
    return [parse(t) for t in texts]
