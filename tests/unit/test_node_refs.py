"""Nodes addressed by id, id prefix, hostname (ambiguous: an error) or `self` (issue #16)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from manager.views import find_one
from svc.cli.node import resolve
from svc.errors import InvalidArgument, NotFound

NODES = [("aaaa1111bbbb2222", "vm"), ("cccc3333dddd4444", "vm"), ("eeee5555ffff6666", "pi")]


def test_hostname_unique_id_and_prefix() -> None:
    assert find_one(NODES, "pi", "node") == "eeee5555ffff6666"
    assert find_one(NODES, "cccc3333dddd4444", "node") == "cccc3333dddd4444"
    assert find_one(NODES, "aaaa", "node") == "aaaa1111bbbb2222"


def test_ambiguous_hostname_is_an_error_naming_the_ids() -> None:
    with pytest.raises(InvalidArgument) as exc:
        find_one(NODES, "vm", "node")
    assert str(exc.value) == "node name vm is ambiguous: 2 nodes (ids aaaa1111bbbb, cccc3333dddd) — use an id"


def test_unknown() -> None:
    with pytest.raises(NotFound, match="no such node: nope"):
        find_one(NODES, "nope", "node")


class FakeControl:
    def __init__(self, address: str) -> None:
        self.address = address

    def ListNodes(self, request: Any) -> Any:
        assert list(request.filters) == ["role=manager"]
        return SimpleNamespace(
            nodes=[
                SimpleNamespace(id="m1", manager_status=SimpleNamespace(api_addr="10.0.0.1:4242")),
                SimpleNamespace(id="m2", manager_status=SimpleNamespace(api_addr="10.0.0.2:4242")),
            ]
        )


def test_self_is_the_node_of_the_manager_talked_to() -> None:
    assert resolve(FakeControl("10.0.0.2:4242"), "self") == "m2"
    assert resolve(FakeControl("10.0.0.2:4242"), "web-1") == "web-1"
    with pytest.raises(NotFound, match="cannot tell which node is self"):
        resolve(FakeControl("somehost:4242"), "self")


def test_node_ps_defaults_to_self_and_checks_filters(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from svc.cli.main import main, parser

    assert parser().parse_args(["node", "ps"]).nodes == ["self"]
    monkeypatch.setenv("SVC_RUN_DIR", "/nonexistent")
    monkeypatch.delenv("SVC_HOST", raising=False)
    assert main(["node", "ps", "-f", "bogus=1"]) == 1
    assert capsys.readouterr().err.startswith("svc: Invalid filter 'bogus'")
