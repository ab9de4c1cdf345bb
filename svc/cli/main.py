"""`svc`: the operator's command line. Heavy modules (grpc) load only when a command needs them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from svc.errors import SvcError

# Command groups, each a module with `register(subparsers)`.
GROUPS = ("svc.cli.service", "svc.cli.node", "svc.cli.cluster", "svc.cli.container", "svc.cli.image")


def parser() -> argparse.ArgumentParser:
    import importlib

    p = argparse.ArgumentParser(prog="svc", description="svc: services on a cluster of container hosts")
    p.add_argument("-H", "--host", help="manager address HOST:PORT (default: the local manager; env SVC_HOST)")
    p.add_argument("--tls-dir", help="client bundle directory (default: the local admin credential; env SVC_TLS_DIR)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import os

    # gRPC's core would print its own connection diagnostics to stderr; the CLI explains failures itself.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    p = parser()
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
