"""Placement constraints matched against nodes; their syntax is svc/constraints.py's (the CLI checks it too)."""

from __future__ import annotations

from dataclasses import dataclass

from svc import constraints as syntax

from .store.objects import NodeObj


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


def node_value(node: NodeObj, key: str) -> str | None:
    """A node's value for a constraint or placement preference key (None if it has none)."""
    return _value(node, key)


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
    return Constraint(*syntax.check(text))


def parse_all(texts: list[str]) -> list[Constraint]:
    return [parse(t) for t in texts]
