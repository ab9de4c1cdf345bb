"""`svc`: the operator's command line. Heavy modules (grpc) load only when a command needs them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from svc import defaults
from svc.errors import SvcError

# Command groups, each a module with `register(subparsers, command)`: `command` is the top-level word
# the command line names (None: every command, for the help), and a group may build only what it needs.
GROUPS = (
    "svc.cli.service",
    "svc.cli.node",
    "svc.cli.network",
    "svc.cli.secret",
    "svc.cli.stack",
    "svc.cli.cluster",
    "svc.cli.container",
    "svc.cli.image",
    "svc.cli.volume",
    "svc.cli.completion",
)

# The group that registers each top-level command, so that a command builds only its own group's
# parser: importing and registering every group costs a few times Python's own start-up before a
# command does anything. tests/unit/test_cli_dispatch.py checks this table against GROUPS.
COMMAND_GROUPS = {
    **dict.fromkeys(
        ("create", "inspect", "logs", "ls", "ps", "rm", "rollback", "scale", "service", "update"), "svc.cli.service"
    ),
    "node": "svc.cli.node",
    "network": "svc.cli.network",
    "config": "svc.cli.secret",
    "secret": "svc.cli.secret",
    "stack": "svc.cli.stack",
    "cluster": "svc.cli.cluster",
    "container": "svc.cli.container",
    **dict.fromkeys(("image", "login", "logout"), "svc.cli.image"),
    "volume": "svc.cli.volume",
}
# Options of the top-level parser that take a value (to find the command word after them).
_VALUED_OPTIONS = ("-H", "--host", "--tls-dir")


def command_word(argv: list[str]) -> str | None:
    """The command a command line names (`svc -H m:4242 ls` -> ls); None if there is none."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _VALUED_OPTIONS:
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        return word
    return None


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with a known `command`, only the group that registers it is loaded."""
    import importlib

    p = argparse.ArgumentParser(prog="svc", description="svc: services on a cluster of container hosts")
    p.add_argument("-H", "--host", help="manager address HOST:PORT (default: the local manager; env SVC_HOST)")
    p.add_argument("--tls-dir", help="client bundle directory (default: the local admin credential; env SVC_TLS_DIR)")
    p.add_argument("-v", "--version", action="version", version=f"svc version {defaults.VERSION}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ver = sub.add_parser("version", help="the CLI's version, and the manager's if one answers")
    ver.set_defaults(func=cmd_version)
    group = COMMAND_GROUPS.get(command or "")
    groups = () if command == "version" else (group,) if group else GROUPS
    for name in groups:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub, command if group else None)
    return p


def cmd_version(args: argparse.Namespace) -> int:
    """docker's `Client:` / `Server:` shape; no manager to ask is not an error (docker's is, but after Client)."""
    print(f"Client:\n Version: {defaults.VERSION}")
    try:
        from svc.control import ControlClient
        from svc.v1 import common_pb2

        c = ControlClient(args.host, args.tls_dir)
        info = c.ClusterInfo(common_pb2.Empty(), timeout=5.0)
    except SvcError as exc:
        print(f"Server: none ({exc})")
        return 0
    print(f"Server:\n Version: {info.version}\n Manager: {c.address}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import os

    # gRPC's core would print its own connection diagnostics to stderr; the CLI explains failures itself.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    words = sys.argv[1:] if argv is None else argv
    command = command_word(words)
    if command is None and ("-v" in words or "--version" in words):
        command = "version"  # needs no group
    p = parser(command)
    args = p.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        p.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except SvcError as exc:
        print(f"svc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()
