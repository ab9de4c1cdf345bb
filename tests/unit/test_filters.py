"""`-f KEY=VALUE` with an unknown key is docker's `Invalid filter 'KEY'`, exit 1 (issue #16: it was ignored)."""

from __future__ import annotations

import pytest

from svc.cli.main import main
from svc.errors import InvalidArgument
from svc.kv import NODE_FILTERS, SERVICE_FILTERS, TASK_FILTERS, parse_filters


def test_known_keys_pass() -> None:
    assert parse_filters(["name=web", "label=a=b"], SERVICE_FILTERS) == {"name": "web", "label": "a=b"}
    assert parse_filters(["desired-state=running"], TASK_FILTERS) == {"desired-state": "running"}
    assert parse_filters(["role=manager"], NODE_FILTERS) == {"role": "manager"}


def test_unknown_key_names_it_and_the_valid_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid filter 'bogus' \(valid: id, label, mode, name\)$"):
        parse_filters(["bogus=1"], SERVICE_FILTERS)


@pytest.mark.parametrize(
    "argv",
    [["ls", "-f", "bogus=1"], ["ps", "web", "-f", "bogus=1"], ["node", "ls", "-f", "bogus=1"]],
)
def test_cli_refuses_before_calling_a_manager(argv: list[str], capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SVC_RUN_DIR", "/nonexistent")
    monkeypatch.delenv("SVC_HOST", raising=False)
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("svc: Invalid filter 'bogus' (valid: ")
