"""`svc secret create|ls|inspect|rm` and `svc config ...`: one module for both kinds, as the managers
keep them (a secret's value is never shown; a config's is, as base64 `Data`, as docker's inspect)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import UTC, datetime
from typing import Any

from svc import filerefs
from svc.cli import output
from svc.cli.service import client
from svc.errors import InvalidArgument
from svc.kv import parse_filters, parse_kv


def register(sub: Any, command: str | None = None) -> None:
    for kind in filerefs.KINDS:
        p = sub.add_parser(kind, help=f"manage {kind}s ({'never shown' if kind == 'secret' else 'files'} for tasks)")
        ksub = p.add_subparsers(dest="verb", required=True)
        cr = ksub.add_parser("create", help=f"create a {kind} from a file, or from standard input with -")
        cr.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
        cr.add_argument("name")
        cr.add_argument("file", metavar="FILE|-")
        cr.set_defaults(func=cmd_create, kind=kind)
        ls = ksub.add_parser("ls", help=f"list {kind}s")
        ls.add_argument("-q", "--quiet", action="store_true")
        ls.add_argument("-f", "--filter", action="append", default=[], help="name=, id=, label=")
        ls.add_argument("--format", default="")
        ls.set_defaults(func=cmd_ls, kind=kind)
        ins = ksub.add_parser(
            "inspect", help=f"show {kind}s as JSON" + (" (never the value)" if kind == "secret" else "")
        )
        ins.add_argument("refs", nargs="+", metavar=kind.upper())
        ins.set_defaults(func=cmd_inspect, kind=kind)
        rm = ksub.add_parser("rm", help=f"remove {kind}s (refused while a service uses one)")
        rm.add_argument("refs", nargs="+", metavar=kind.upper())
        rm.set_defaults(func=cmd_rm, kind=kind)


def _read(kind: str, path: str) -> bytes:
    limit = filerefs.MAX_SIZE
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidArgument(f"{kind} data must be larger than 0 and less than 500 KB: {path} is larger")
    filerefs.check_data(kind, data)
    return data


def cmd_create(args: argparse.Namespace) -> int:
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import control_pb2 as ctl

    filerefs.check_name(args.kind, args.name)
    labels = parse_kv(args.label, "label", require_equals=False)
    spec = cpb.SecretSpec(name=args.name, labels=labels, data=_read(args.kind, args.file))
    made = client(args).CreateSecret(ctl.CreateSecretRequest(kind=args.kind, spec=spec))
    print(made.id)
    return 0


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def doc(s: Any, kind: str) -> dict[str, Any]:
    """docker's shape: ID, Version, CreatedAt, UpdatedAt, Spec{Name, Labels[, Data]}."""
    spec: dict[str, Any] = {"Name": s.spec.name, "Labels": dict(s.spec.labels)}
    if kind == filerefs.CONFIG:
        spec["Data"] = base64.b64encode(s.spec.data).decode()
    return {
        "ID": s.id,
        "Version": {"Index": s.version},
        "CreatedAt": _time(s.created_at),
        "UpdatedAt": _time(s.updated_at),
        "Spec": spec,
        "Services": list(s.services),
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, filerefs.FILTERS)
    items = client(args).ListSecrets(ctl.ListSecretsRequest(kind=args.kind, filters=args.filter)).secrets
    if args.quiet:
        for s in items:
            print(s.id[:12])
        return 0
    docs = [doc(s, args.kind) for s in items]
    if args.format == "json":
        output.json_lines(docs)
        return 0
    if args.format:
        for d in docs:
            print(output.apply_template(args.format, {**d, "Name": d["Spec"]["Name"]}))
        return 0
    output.table(
        ["ID", "NAME", "CREATED", "UPDATED"],
        [[s.id[:12], s.spec.name, output.ago(s.created_at), output.ago(s.updated_at)] for s in items],
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    docs: list[Any] = []
    code = output.for_each(
        args.refs, lambda ref: docs.append(doc(c.GetSecret(ctl.SecretRef(kind=args.kind, ref=ref)), args.kind))
    )
    print(json.dumps(docs, indent=2, sort_keys=True))
    return code


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)

    def remove(ref: str) -> None:
        c.RemoveSecret(ctl.SecretRef(kind=args.kind, ref=ref))
        print(ref)

    return output.for_each(args.refs, remove)
