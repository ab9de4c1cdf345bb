"""`svc node ls|inspect|update|rm|promote|demote`."""

from __future__ import annotations

import argparse
from typing import Any

from svc.cli import output
from svc.cli.service import add_inspect_format, client
from svc.kv import NODE_FILTERS, parse_filters


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("node", help="manage the cluster's nodes")
    nsub = p.add_subparsers(dest="verb", required=True)
    ls = nsub.add_parser("ls", help="list nodes")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[], help="role=, id=, hostname=, availability=")
    ls.add_argument("--format", default="")
    ls.set_defaults(func=cmd_ls)
    ins = nsub.add_parser("inspect", help="show nodes as JSON (or --format TEMPLATE)")
    ins.add_argument("nodes", nargs="+")
    add_inspect_format(ins)
    ins.set_defaults(func=cmd_inspect)
    up = nsub.add_parser("update", help="change availability or labels")
    up.add_argument("node")
    up.add_argument("--availability", default="", help="active, pause or drain")
    up.add_argument("--label-add", action="append", default=[], metavar="KEY=VALUE")
    up.add_argument("--label-rm", action="append", default=[], metavar="KEY")
    up.set_defaults(func=cmd_update)
    ps = nsub.add_parser("ps", help="list the tasks on nodes (default: self)")
    ps.add_argument("nodes", nargs="*", default=[SELF])
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("--no-trunc", action="store_true")
    ps.add_argument("-f", "--filter", action="append", default=[], help="desired-state=running, id=")
    ps.add_argument("--format", default="")
    ps.set_defaults(func=cmd_ps)
    rm = nsub.add_parser("rm", help="remove nodes from the cluster")
    rm.add_argument("-f", "--force", action="store_true", help="remove a node that is not down")
    rm.add_argument("nodes", nargs="+")
    rm.set_defaults(func=cmd_rm)
    for verb, fn in (("promote", cmd_promote), ("demote", cmd_demote)):
        v = nsub.add_parser(verb, help=f"{verb} nodes")
        v.add_argument("nodes", nargs="+")
        v.set_defaults(func=fn)


SELF = "self"


def resolve(c: Any, ref: str) -> str:
    """`self` is the node of the manager the CLI talks to (the local one, or --host's), as in docker."""
    if ref != SELF:
        return ref
    from svc.v1 import control_pb2 as ctl

    nodes = c.ListNodes(ctl.ListNodesRequest(filters=["role=manager"])).nodes
    mine = [n.id for n in nodes if n.manager_status.api_addr and n.manager_status.api_addr == c.address]
    if len(mine) != 1:
        from svc.errors import NotFound

        raise NotFound(f"cannot tell which node is self: no manager node advertises {c.address}; use a node id")
    return str(mine[0])


def manager_status(n: Any) -> str:
    if n.role != "manager" or not n.manager_status.raft_addr:
        return ""
    if n.manager_status.leader:
        return "Leader"
    return n.manager_status.reachability.capitalize()


def engine_text(n: Any) -> str:
    """A manager started without a node (`svcd manager` alone) has no engine and never runs a task:
    `-` in ENGINE VERSION says so, where Swarm shows every node's engine (docs/cli.md)."""
    if not n.description.runtime:
        return "-"
    return str(n.description.engine_version or "-")


NODE_TITLES = {"ID": "ID", "Self": "SELF", "TLSStatus": "TLS STATUS"}


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.cli import formatter, jsonview
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, NODE_FILTERS)
    if formatter.is_template(args.format):
        formatter.prepare(args.format)  # a bad template is refused before the managers are asked
    c = client(args)
    nodes = sorted(
        c.ListNodes(ctl.ListNodesRequest(filters=args.filter)).nodes,
        key=lambda n: output.natural_key(n.description.hostname or n.id),
    )
    info = c.ClusterInfo(_empty())
    me = {m.api_addr for m in info.managers if m.api_addr == info.this_manager}
    if args.quiet:
        for n in nodes:
            print(n.id[:12])
        return 0
    if args.format == "json":
        output.json_lines(jsonview.doc(n) for n in nodes)
        return 0
    docs = [
        {
            "ID": n.id[:12],
            "Self": bool(n.manager_status.api_addr and n.manager_status.api_addr in me),
            "Hostname": n.description.hostname,
            "Status": n.state.capitalize(),
            "Availability": n.availability.capitalize(),
            "ManagerStatus": manager_status(n),
            "EngineVersion": engine_text(n),
        }
        for n in nodes
    ]
    if formatter.is_template(args.format):
        formatter.render(args.format, docs, NODE_TITLES)
        return 0
    rows = [
        [
            d["ID"] + (" *" if d["Self"] else ""),
            d["Hostname"],
            d["Status"],
            d["Availability"],
            d["ManagerStatus"],
            d["EngineVersion"],
        ]
        for d in docs
    ]
    output.table(["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"], rows)
    return 0


def _empty() -> Any:
    from svc.v1 import common_pb2

    return common_pb2.Empty()


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.cli import inspectview
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return inspectview.show(args, args.nodes, lambda ref: c.GetNode(ctl.NodeRef(node=resolve(c, ref))))


def cmd_update(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    n = c.UpdateNode(
        ctl.UpdateNodeRequest(
            node=resolve(c, args.node), availability=args.availability, label_add=args.label_add, label_rm=args.label_rm
        )
    )
    print(n.description.hostname or n.id)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from svc.cli.service import print_tasks
    from svc.kv import TASK_FILTERS
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, TASK_FILTERS)
    c = client(args)
    refs = [resolve(c, ref) for ref in (args.nodes or [SELF])]
    return print_tasks(args, c, [ctl.ListTasksRequest(node=ref, filters=args.filter) for ref in refs])


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return output.for_each(
        args.nodes, lambda ref: (c.RemoveNode(ctl.RemoveNodeRequest(node=ref, force=args.force)), print(ref))
    )


def cmd_promote(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return output.for_each(args.nodes, lambda ref: (c.PromoteNode(ctl.NodeRef(node=ref)), print(f"{ref} promoted")))


def cmd_demote(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return output.for_each(args.nodes, lambda ref: (c.DemoteNode(ctl.NodeRef(node=ref)), print(f"{ref} demoted")))
