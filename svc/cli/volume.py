"""`svc volume create|ls|inspect|rm|prune`: this node's named local volumes, through the engine socket.

Rule: docker's shapes (columns, inspect keys, prune's prompt and report); the engine decides what is in
use at the moment it removes (node/engine/volumeapi.py), the CLI only asks.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from svc.cli import output
from svc.errors import Conflict, InvalidArgument
from svc.kv import parse_filters, parse_kv

VOLUME_FILTERS = ("dangling", "label", "name")
_WARN = "WARNING! This will remove all local volumes not used by at least one container."


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("volume", help="manage this node's named volumes")
    vsub = p.add_subparsers(dest="verb", required=True)
    cr = vsub.add_parser("create", help="create a volume (tasks and containers also make theirs on first use)")
    cr.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    cr.add_argument("-d", "--driver", default="local", help="local (the only driver)")
    cr.add_argument("name")
    cr.set_defaults(func=cmd_create)
    ls = vsub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only names")
    ls.add_argument("-f", "--filter", action="append", default=[], help="name=, label=KEY[=VALUE], dangling=true|false")
    ls.add_argument("--format", default="", help="json, or a template such as '{{.Name}}'")
    ls.set_defaults(func=cmd_ls)
    ins = vsub.add_parser("inspect", help="show volumes as JSON")
    ins.add_argument("volumes", nargs="+")
    ins.add_argument("-f", "--format", default="", help="a Go template, e.g. '{{.Mountpoint}}'")
    ins.set_defaults(func=cmd_inspect)
    rm = vsub.add_parser("rm", help="remove volumes (refused while a container uses one)")
    rm.add_argument("-f", "--force", action="store_true", help="no error for a volume that does not exist")
    rm.add_argument("volumes", nargs="+")
    rm.set_defaults(func=cmd_rm)
    pr = vsub.add_parser("prune", help="remove every volume no container uses")
    pr.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    pr.set_defaults(func=cmd_prune)


def _engine():  # type: ignore[no-untyped-def]
    from svc.client import EngineClient

    return EngineClient()


def _doc(v: Any) -> dict[str, Any]:
    from svc.cli import jsonview

    return {
        "CreatedAt": jsonview.rfc3339(v.created_at),
        "Driver": v.driver,
        "Labels": dict(v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": None,
        "Scope": "local",
    }


def cmd_create(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    if args.driver != "local":
        raise InvalidArgument(f"volume driver {args.driver!r} is not supported: use local")
    labels = parse_kv(args.label, "label", require_equals=False)
    v = _engine().CreateVolume(epb.CreateVolumeRequest(name=args.name, labels=labels))
    print(v.name)
    return 0


def matches(v: Any, filters: list[str]) -> bool:
    """docker's volume filters: name= (a substring), label=KEY or KEY=VALUE, dangling=true|false."""
    for item in filters:
        key, _, value = item.partition("=")
        if key == "name" and value not in v.name:
            return False
        if key == "label":
            k, eq, want = value.partition("=")
            if k not in v.labels or (eq and v.labels[k] != want):
                return False
        if key == "dangling":
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter dangling={value!r}: use true or false")
            if (value.lower() in ("true", "1")) != (not v.containers):
                return False
    return True


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.cli import formatter
    from svc.v1 import common_pb2 as cpb

    for item in args.filter:  # every one is checked; keys may repeat (label=a -f label=b)
        parse_filters([item], VOLUME_FILTERS)
    if formatter.is_template(args.format):
        formatter.prepare(args.format)
    volumes = [v for v in _engine().ListVolumes(cpb.Empty()).volumes if matches(v, args.filter)]
    if args.quiet:
        for v in volumes:
            print(v.name)
        return 0
    docs = [_doc(v) for v in volumes]
    if args.format == "json":
        output.json_lines(docs)
        return 0
    if formatter.is_template(args.format):
        formatter.render(args.format, docs, {"Name": "VOLUME NAME", "Driver": "DRIVER"})
        return 0
    output.table(["DRIVER", "VOLUME NAME"], [[d["Driver"], d["Name"]] for d in docs])
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.cli import formatter
    from svc.v1 import engine_pb2 as epb

    template = formatter.prepare(args.format)[0] if args.format and args.format != "json" else None
    engine = _engine()
    docs: list[dict[str, Any]] = []
    code = output.for_each(args.volumes, lambda name: docs.append(_doc(engine.InspectVolume(epb.VolumeRef(name=name)))))
    if template is not None:
        for d in docs:
            sys.stdout.write(template.execute(d) + "\n")
    else:
        print(json.dumps(docs, indent=4, sort_keys=True))
    return code


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()

    def remove(name: str) -> None:
        engine.RemoveVolume(epb.RemoveVolumeRequest(name=name, force=args.force))
        print(name)

    return output.for_each(args.volumes, remove)


def cmd_prune(args: argparse.Namespace) -> int:
    from svc.units import human_size
    from svc.v1 import common_pb2 as cpb

    if not args.force:
        print(_WARN)
        print("Are you sure you want to continue? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline()
        if not answer.endswith("\n"):
            print()
        if answer.strip().lower() not in ("y", "yes"):
            raise Conflict("volume prune has been cancelled")
    reply = _engine().PruneVolumes(cpb.Empty())
    if reply.deleted:
        print("\n".join(["Deleted Volumes:", *reply.deleted, ""]))
    print(f"Total reclaimed space: {human_size(reply.reclaimed_bytes)}")
    return 0
