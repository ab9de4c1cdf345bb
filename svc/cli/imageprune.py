"""`svc image prune [-a] [-f]`: docker's prompt, report and units, through the node's PruneImages call.

Rule: nothing is asked of the engine until the prompt is answered `y` (or `-f`); the engine decides what
is unused at the moment it removes (node/engine/imagecollector.py).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from svc.errors import Conflict
from svc.units import human_size

_WARN = "WARNING! This will remove all dangling images."
_WARN_ALL = "WARNING! This will remove all images without at least one container associated to them."


def register(isub: Any) -> None:
    p = isub.add_parser("prune", help="remove unused images (dangling ones; with -a every image no container uses)")
    p.add_argument("-a", "--all", action="store_true", help="remove every image no container uses, not only dangling")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(func=cmd_prune)


def _confirmed(all: bool) -> bool:
    print(_WARN_ALL if all else _WARN)
    print("Are you sure you want to continue? [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):
        print()
    return answer.strip().lower() in ("y", "yes")


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force and not _confirmed(args.all):
        raise Conflict("image prune has been cancelled")
    from svc.client import EngineClient
    from svc.v1 import engine_pb2 as epb

    reply = EngineClient().PruneImages(epb.PruneImagesRequest(all=args.all))
    lines = []
    if reply.images:
        lines.append("Deleted Images:")
        lines += [f"untagged: {i.untagged}" if i.untagged else f"deleted: {i.deleted}" for i in reply.images]
        lines.append("")
    print("\n".join(lines))
    print(f"Total reclaimed space: {human_size(reply.reclaimed_bytes)}")
    return 0
