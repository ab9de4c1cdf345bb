"""`svcd`: the daemons. `svcd node`, `svcd manager`, `svcd up` (a manager and a node in one process)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from svc import defaults
from svc.errors import SvcError

COMMON = {
    "data_dir": defaults.DATA_DIR,
    "run_dir": defaults.RUN_DIR,
    "log_level": "info",
    "log_format": "text",
}
NODE = {
    "runtime": defaults.DEFAULT_RUNTIME,
    "conmon": "conmon",
    "cgroup_parent": defaults.CGROUP_PARENT,
    "bridge": defaults.BRIDGE_NAME,
    "subnet": defaults.BRIDGE_SUBNET,
    "metrics_addr": f"127.0.0.1:{defaults.NODE_METRICS_PORT}",
    "join": "",
    "token": "",
    "hostname": "",
    "labels": [],
    "advertise_addr": "",
}
MANAGER = {
    "listen_addr": f"0.0.0.0:{defaults.MANAGER_GRPC_PORT}",
    "advertise_addr": "",
    "raft_port": defaults.MANAGER_RAFT_PORT,
    "metrics_addr": f"127.0.0.1:{defaults.MANAGER_METRICS_PORT}",
    "join": "",
    "token": "",
    "init": False,
    "hostname": "",
    "heartbeat_period": defaults.HEARTBEAT_PERIOD_SECONDS,
    "cert_lifetime": defaults.CERT_LIFETIME_SECONDS,
}


def _common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help=f"TOML config file (default {defaults.CONFIG_FILE} if present)")
    p.add_argument("--data-dir", help=f"state directory (default {defaults.DATA_DIR})")
    p.add_argument("--run-dir", help=f"runtime directory for sockets (default {defaults.RUN_DIR})")
    p.add_argument("--log-level", help="debug, info, warning, error (default info)")
    p.add_argument("--log-format", help="text or json (default text)")


def _node_flags(p: argparse.ArgumentParser, with_join: bool = True) -> None:
    p.add_argument("--runtime", help="OCI runtime: runc or crun (default runc)")
    p.add_argument("--conmon", help="conmon binary (default: conmon on PATH)")
    p.add_argument("--cgroup-parent", help="cgroup under which containers live (default svc)")
    p.add_argument("--bridge", help="bridge device for containers (default svc0)")
    p.add_argument("--subnet", help=f"container subnet on this node (default {defaults.BRIDGE_SUBNET})")
    p.add_argument("--label", dest="labels", action="append", metavar="KEY=VALUE", help="node label (repeatable)")
    p.add_argument("--hostname", help="node name in the cluster (default: the host's name)")
    if with_join:
        p.add_argument("--join", metavar="ADDR", help="manager address HOST:PORT to join")
        p.add_argument("--token", help="join token from `svc cluster join-token worker`")
        p.add_argument(
            "--metrics-addr", help=f"HOST:PORT for /metrics (default 127.0.0.1:{defaults.NODE_METRICS_PORT})"
        )
        p.add_argument("--advertise-addr", help="address managers and peers reach this node on")


def _manager_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--init", action="store_true", default=None, help="start a new cluster")
    p.add_argument("--join", metavar="ADDR", help="an existing manager HOST:PORT to join")
    p.add_argument("--token", help="manager join token")
    p.add_argument("--listen-addr", help=f"gRPC HOST:PORT (default 0.0.0.0:{defaults.MANAGER_GRPC_PORT})")
    p.add_argument("--advertise-addr", help="HOST[:PORT] others reach this manager on")
    p.add_argument(
        "--raft-port", type=int, help=f"Raft port on the advertised host (default {defaults.MANAGER_RAFT_PORT})"
    )
    p.add_argument("--metrics-addr", help=f"HOST:PORT for /metrics (default 127.0.0.1:{defaults.MANAGER_METRICS_PORT})")
    p.add_argument("--hostname", help="this manager's name")
    p.add_argument("--heartbeat-period", type=float, help="node heartbeat period in seconds (default 1)")
    p.add_argument("--cert-lifetime", type=float, help="node certificate lifetime in seconds (default 90 days)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="svcd", description="svc daemons")
    sub = p.add_subparsers(dest="role", required=True)
    node = sub.add_parser("node", help="run the worker daemon (engine; with --join, the cluster agent)")
    _common_flags(node)
    _node_flags(node)
    manager = sub.add_parser("manager", help="run a manager (Raft store, control API, scheduler, dispatcher)")
    _common_flags(manager)
    _manager_flags(manager)
    up = sub.add_parser("up", help="run a one-host cluster: a manager and a node in one process")
    _common_flags(up)
    _node_flags(up, with_join=False)
    up.add_argument("--listen-addr", help=f"manager gRPC HOST:PORT (default 127.0.0.1:{defaults.MANAGER_GRPC_PORT})")
    up.add_argument("--advertise-addr", help="HOST[:PORT] others reach the manager on")
    up.add_argument("--raft-port", type=int, help=f"Raft port (default {defaults.MANAGER_RAFT_PORT})")
    up.add_argument("--metrics-addr", help="manager metrics HOST:PORT")
    up.add_argument("--node-metrics-addr", help="node metrics HOST:PORT")
    return p


def settings(args: argparse.Namespace, fallbacks: dict[str, Any], section: str) -> dict[str, Any]:
    from svc import config

    given = {k: getattr(args, k, None) for k in fallbacks}
    return config.resolve(given, fallbacks, section, args.config)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except SvcError as exc:
        print(f"svcd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace) -> int:
    from svc import logsetup

    if args.role == "node":
        from node.daemon import NodeOptions, run_node

        s = settings(args, {**COMMON, **NODE}, "node")
        logsetup.configure(s.pop("log_level"), s.pop("log_format"), prefix="node ")
        await run_node(NodeOptions(**s))
        return 0
    if args.role == "manager":
        from manager.daemon import ManagerOptions, run_manager

        s = settings(args, {**COMMON, **MANAGER}, "manager")
        logsetup.configure(s.pop("log_level"), s.pop("log_format"), prefix="manager ")
        await run_manager(ManagerOptions(**s))
        return 0
    from manager.up import run_up

    s = settings(
        args, {**COMMON, **NODE, **MANAGER, "node_metrics_addr": f"127.0.0.1:{defaults.NODE_METRICS_PORT}"}, "up"
    )
    logsetup.configure(s.pop("log_level"), s.pop("log_format"))
    await run_up(s)
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
