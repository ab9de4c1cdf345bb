"""`svc network create|ls|inspect|rm`: overlay networks, cluster objects kept by the managers."""

from __future__ import annotations

import argparse
from typing import Any

from svc.cli import output
from svc.cli.service import add_inspect_format, client
from svc.kv import NETWORK_FILTERS, parse_filters, parse_kv


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("network", help="manage overlay networks")
    nsub = p.add_subparsers(dest="verb", required=True)
    cr = nsub.add_parser("create", help="create an overlay network")
    cr.add_argument("-d", "--driver", default="overlay", help="overlay (the only driver)")
    cr.add_argument("--subnet", default="", help="CIDR (default: the next free /24 of 10.0.0.0/8)")
    cr.add_argument("--gateway", default="", help="gateway address (default: the subnet's first)")
    cr.add_argument("--attachable", action="store_true", help="standalone containers may join it")
    cr.add_argument("--internal", action="store_true", help="no way out of the cluster")
    cr.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    cr.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE", help="driver options")
    cr.add_argument("name")
    cr.set_defaults(func=cmd_create)
    ls = nsub.add_parser("ls", help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[], help="name=, id=, driver=, label=")
    ls.add_argument("--format", default="")
    ls.set_defaults(func=cmd_ls)
    ins = nsub.add_parser("inspect", help="show networks as JSON (or --format TEMPLATE)")
    ins.add_argument("networks", nargs="+")
    add_inspect_format(ins)
    ins.set_defaults(func=cmd_inspect)
    rm = nsub.add_parser("rm", help="remove networks (refused while a service uses one)")
    rm.add_argument("networks", nargs="+")
    rm.set_defaults(func=cmd_rm)


def cmd_create(args: argparse.Namespace) -> int:
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import control_pb2 as ctl

    spec = cpb.NetworkSpec(
        name=args.name,
        driver=args.driver,
        subnet=args.subnet,
        gateway=args.gateway,
        attachable=args.attachable,
        internal=args.internal,
        labels=parse_kv(args.label, "label", require_equals=False),
        options=parse_kv(args.opt, "option", require_equals=False),
    )
    net = client(args).CreateNetwork(ctl.CreateNetworkRequest(spec=spec))
    print(net.id)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.cli import formatter, jsonview
    from svc.v1 import control_pb2 as ctl

    parse_filters(args.filter, NETWORK_FILTERS)
    if formatter.is_template(args.format):
        formatter.prepare(args.format)  # a bad template is refused before the managers are asked
    nets = client(args).ListNetworks(ctl.ListNetworksRequest(filters=args.filter)).networks
    if args.quiet:
        for n in nets:
            print(n.id[:12])
        return 0
    if args.format == "json":
        output.json_lines(jsonview.doc(n) for n in nets)
        return 0
    docs = [
        {
            "ID": n.id[:12],
            "Name": n.spec.name,
            "Driver": n.spec.driver,
            "Scope": "swarm",
            "Subnet": n.spec.subnet,
            "Services": ",".join(n.services),
        }
        for n in nets
    ]
    if formatter.is_template(args.format):
        formatter.render(args.format, docs, {"ID": "NETWORK ID"})
        return 0
    output.table(
        ["NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"],
        [[d["ID"], d["Name"], d["Driver"], d["Scope"], d["Subnet"]] for d in docs],
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.cli import inspectview
    from svc.v1 import control_pb2 as ctl

    c = client(args)
    return inspectview.show(args, args.networks, lambda ref: c.GetNetwork(ctl.NetworkRef(network=ref)))


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import control_pb2 as ctl

    c = client(args)

    def remove(ref: str) -> None:
        c.RemoveNetwork(ctl.NetworkRef(network=ref))
        print(ref)

    return output.for_each(args.networks, remove)
