"""Shell completion: candidates from the CLI's own parser, names from the managers (a stub here)."""

from __future__ import annotations

import subprocess

from svc.cli import completion
from svc.cli.main import parser

NAMES = {"service": ["web", "api"], "node": ["self", "node-1"], "network": ["front"]}


def complete(*words: str) -> list[str]:
    return completion.complete(list(words), parser(), lambda kind: NAMES[kind])


def test_commands_subcommands_and_flags() -> None:
    assert "scale" in complete("") and "service" in complete("") and completion.HIDDEN not in complete("")
    assert complete("sc") == ["scale"]
    assert complete("service", "ro") == ["rollback"]
    assert sorted(complete("node", "p")) == ["promote", "ps"]
    assert "--format" in complete("ls", "--f") and "--filter" in complete("ls", "--f")
    assert complete("update", "--for") == ["--force"]


def test_names_where_a_command_takes_them() -> None:
    assert complete("ps", "") == ["api", "web"]
    assert complete("service", "logs", "w") == ["web"]
    assert complete("scale", "w") == ["web="]  # svc scale web=5
    assert complete("node", "inspect", "") == ["node-1", "self"]
    assert complete("network", "rm", "f") == ["front"]
    assert complete("create", "") == []  # an image: nothing known


def test_a_flags_value_is_left_to_the_shell() -> None:
    assert complete("update", "--image", "") == []
    assert complete("update", "--image", "busybox", "w") == ["web"]
    assert complete("update", "--force", "w") == ["web"]  # --force takes no value


def test_the_bash_script_runs() -> None:
    script = completion.BASH + 'COMP_WORDS=(svc node ""); COMP_CWORD=2; svc() { echo "$@"; }; _svc_complete\n'
    script += 'printf "%s\\n" "${COMPREPLY[@]}"\n'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == "__complete -- node "  # what the script asks `svc`
