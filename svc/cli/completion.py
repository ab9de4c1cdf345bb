"""Shell completion for bash and zsh: `svc completion bash|zsh` prints the script; the script asks
`svc __complete -- WORDS...` (hidden) for the candidates.

Rule: candidates come from the CLI's own argparse tree (commands, subcommands, flags), so a new
command or flag completes without an edit here; positional names (services, nodes, networks) are
asked of the managers with a short timeout, and any failure completes nothing rather than printing
an error into the user's shell.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

HIDDEN = "__complete"
_SERVICE_VERBS = {"ps", "inspect", "scale", "update", "rollback", "rm", "logs"}
_NODE_VERBS = {"inspect", "update", "ps", "rm", "promote", "demote"}
_NETWORK_VERBS = {"inspect", "rm"}

BASH = """# svc completion for bash: eval "$(svc completion bash)"
_svc_complete() {
    local IFS=$'\\n'
    COMPREPLY=($(svc __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _svc_complete svc
"""

ZSH = """# svc completion for zsh: eval "$(svc completion zsh)"
autoload -U +X bashcompinit && bashcompinit
""" + BASH.split("\n", 1)[1]


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("completion", help="print the shell completion script: eval \"$(svc completion bash)\"")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=cmd_completion)
    hidden = sub.add_parser(HIDDEN)
    hidden.add_argument("words", nargs=argparse.REMAINDER)
    hidden.set_defaults(func=cmd_complete)
    # keep the helper out of `svc --help`
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != HIDDEN]


def cmd_completion(args: argparse.Namespace) -> int:
    print(BASH if args.shell == "bash" else ZSH, end="")
    return 0


def kind_of(prog: str) -> str:
    """Which names a command's positional arguments are: service, node, network or '' (none known)."""
    words = prog.split()[1:]
    if words[:1] == ["service"]:
        words = words[1:]
    if len(words) == 1 and words[0] in _SERVICE_VERBS:
        return "service"
    if len(words) == 2 and words[0] == "node" and words[1] in _NODE_VERBS:
        return "node"
    if len(words) == 2 and words[0] == "network" and words[1] in _NETWORK_VERBS:
        return "network"
    return ""


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {k: v for k, v in action.choices.items() if k != HIDDEN}
    return {}


def _takes_value(p: argparse.ArgumentParser, flag: str) -> bool:
    action = p._option_string_actions.get(flag.split("=", 1)[0])
    return action is not None and action.nargs != 0 and "=" not in flag


def complete(words: list[str], root: argparse.ArgumentParser, names: Callable[[str], list[str]]) -> list[str]:
    """Candidates for the last of `words` (the command line after `svc`; the last one may be '')."""
    *done, partial = words or [""]
    p, skip = root, False
    for word in done:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = _takes_value(p, word)
        elif word in _subparsers(p):
            p = _subparsers(p)[word]
    if skip:
        return []  # a flag's value: the shell's default (files) applies
    if partial.startswith("-"):
        flags = sorted({f for a in p._actions for f in a.option_strings if a.help != argparse.SUPPRESS})
        return [f for f in flags if f.startswith(partial)]
    subs = _subparsers(p)
    if subs:
        return [s for s in subs if s.startswith(partial)]
    kind = kind_of(p.prog)
    if not kind:
        return []
    suffix = "=" if p.prog.endswith(" scale") else ""
    return [n + suffix for n in sorted(set(names(kind))) if n.startswith(partial)]


def live_names(args: argparse.Namespace) -> Callable[[str], list[str]]:
    def names(kind: str) -> list[str]:
        try:
            from svc.cli.service import client
            from svc.v1 import control_pb2 as ctl

            c = client(args)
            if kind == "service":
                return [s.spec.name for s in c.ListServices(ctl.ListServicesRequest(), timeout=2.0).services]
            if kind == "node":
                nodes = c.ListNodes(ctl.ListNodesRequest(), timeout=2.0).nodes
                return ["self", *(n.description.hostname for n in nodes if n.description.hostname)]
            return [n.spec.name for n in c.ListNetworks(ctl.ListNetworksRequest(), timeout=2.0).networks]
        except Exception:  # completion never prints an error into the shell
            return []

    return names


def cmd_complete(args: argparse.Namespace) -> int:
    from svc.cli.main import parser

    words = list(args.words)
    if words[:1] == ["--"]:
        words = words[1:]
    for candidate in complete(words, parser(), live_names(args)):
        print(candidate)
    return 0
