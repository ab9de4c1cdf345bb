"""`svcd`: the composition root. Each role is assembled here from manager/ and node/ parts.

    svcd manager   a manager: Raft store, control API, scheduler, dispatcher, CA
    svcd node      a node: the engine and its local API; with --join, the cluster agent
                   (and, once promoted, a manager in the same process)
    svcd up        a one-host cluster: a manager and a node in one process, one identity

Rule: only this package imports both manager/ and node/; they never import each other.
What a daemon is comes from its data dir's role record (svcd/datadir.py), checked before
anything starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from svc import defaults
from svc.errors import SvcError

from . import options


def main(argv: list[str] | None = None) -> int:
    args = options.parser().parse_args(argv)
    try:
        s = options.settings(args)
        from svc import logsetup

        prefix = {"node": "node ", "manager": "manager "}.get(args.role, "")
        logsetup.configure(s.pop("log_level"), s.pop("log_format"), prefix=prefix)
        return asyncio.run(_run(args.role, s))
    except SvcError as exc:
        print(f"svcd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(role: str, s: dict[str, Any]) -> int:
    from .datadir import DataDir, check_role
    from .lifecycle import serve

    data_dir = DataDir(s["data_dir"])
    data_dir.lock()
    try:
        recorded = data_dir.role() or data_dir.legacy_role(role)
        engine_alone = role == "node" and not s["join"]  # touches only node/: allowed on any data dir
        if not engine_alone:
            check_role(role, recorded, data_dir.path)
        if role == "manager":
            from .roles import assemble_manager

            await serve(assemble_manager(s, data_dir), executor_threads=defaults.MANAGER_EXECUTOR_THREADS)
        elif role == "node":
            from .roles import assemble_node

            await serve(assemble_node(s, data_dir, recorded), executor_threads=defaults.NODE_EXECUTOR_THREADS)
        else:
            from .roles import assemble_up

            await serve(assemble_up(s, data_dir), executor_threads=defaults.NODE_EXECUTOR_THREADS)
        return 0
    finally:
        data_dir.unlock()


def run() -> None:
    code = main()
    # Every part has stopped by now. A blocking call still in flight in a worker thread (a TLS
    # handshake to a manager that never answers, say) must not hold the exit: the interpreter
    # would join those threads at exit, past the stop grace.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
