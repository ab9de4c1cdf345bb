"""The CLI loads only the group a command belongs to: the table that says which group that is must
match what the groups register, and a command parses the same with one group as with all."""

from __future__ import annotations

import argparse
import importlib

import pytest

from svc.cli import main


def registered(group: str) -> set[str]:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    importlib.import_module(group).register(sub)
    return set(sub.choices)


def test_table_names_every_command_of_every_group() -> None:
    groups = [g for g in main.GROUPS if g != "svc.cli.completion"]  # completion needs every group
    expected = {cmd: g for g in groups for cmd in registered(g)}
    assert expected == main.COMMAND_GROUPS


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["ls"], "ls"),
        (["-H", "m:4242", "ps", "web"], "ps"),
        (["--host=m:4242", "--tls-dir", "/x", "node", "ls"], "node"),
        (["--version"], None),
        ([], None),
    ],
)
def test_command_word(argv: list[str], word: str | None) -> None:
    assert main.command_word(argv) == word


@pytest.mark.parametrize("argv", [["ls", "-q"], ["service", "ps", "web"], ["node", "inspect", "self"], ["image", "ls"]])
def test_one_group_parses_as_all_do(argv: list[str]) -> None:
    lazy = vars(main.parser(main.command_word(argv)).parse_args(argv))
    full = vars(main.parser().parse_args(argv))
    assert {k: v for k, v in lazy.items() if k != "func"} == {k: v for k, v in full.items() if k != "func"}
    assert lazy["func"].__qualname__ == full["func"].__qualname__
