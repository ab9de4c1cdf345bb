"""The three daemons, each assembled in one readable function from manager/ and node/ parts.

Each `assemble_*` returns an assembly for svcd.lifecycle.serve: it starts the parts in
order, registers their stops, records the role once the daemon has become it, and returns
what (besides a signal) ends the daemon.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import fields
from typing import Any

from manager.bootstrap import ManagerOptions
from manager.upkeep import print_join_commands
from svc import defaults
from svc.netaddr import check_bindable

from .datadir import DataDir, Role
from .lifecycle import Assembly, Context
from .manager import start_manager
from .node import NodeOptions, start_agent, start_node
from .promoted import PromotedManager


def _pick(cls: Any, s: dict[str, Any], **over: Any) -> Any:
    """`cls` from the settings (and overrides); fields neither gives keep their defaults."""
    given = {**s, **over}
    return cls(**{f.name: given[f.name] for f in fields(cls) if f.name in given})


def _record(data_dir: DataDir, role: Role) -> None:
    if data_dir.role() != role:
        data_dir.set_role(role)


def assemble_manager(s: dict[str, Any], data_dir: DataDir) -> Assembly:
    async def assemble(ctx: Context) -> asyncio.Future[Any]:
        opts: ManagerOptions = _pick(ManagerOptions, s)
        running = await start_manager(opts)
        ctx.on_stop(running.stop)
        _record(data_dir, Role.MANAGER)
        if opts.init:
            await print_join_commands(running.manager)
        return asyncio.ensure_future(running.manager.demoted.wait())  # a demoted manager stops

    return assemble


def assemble_node(s: dict[str, Any], data_dir: DataDir, recorded: Role | None) -> Assembly:
    async def assemble(ctx: Context) -> None:
        opts: NodeOptions = _pick(NodeOptions, s)
        # A promoted node's agent is its manager's node: it uses the manager's identity.
        shared = os.path.join(opts.data_dir, "manager", "tls") if recorded == Role.PROMOTED else ""
        node = await start_node(ctx, opts, shared_identity_dir=shared)
        if node.agent is None:
            return None  # the engine alone: no cluster, the role record is left as it is
        promoted = PromotedManager(opts, data_dir, node.agent)
        ctx.on_stop(promoted.stop)
        if recorded == Role.PROMOTED:
            await promoted.resume()
        node.agent.on_promoted = promoted.promote
        await start_agent(ctx, node)
        if recorded is None:
            _record(data_dir, Role.NODE)
        return None

    return assemble


def assemble_up(s: dict[str, Any], data_dir: DataDir) -> Assembly:
    async def assemble(ctx: Context) -> None:
        if s["node_metrics_addr"]:  # the node's address too, before the manager writes a cluster
            check_bindable(s["node_metrics_addr"], "node metrics address")
        fresh = data_dir.role() is None and data_dir.legacy_role("up") is None
        mopts: ManagerOptions = _pick(ManagerOptions, s, join="", token="", init=fresh)
        running = await start_manager(mopts)
        ctx.on_stop(running.stop)
        _record(data_dir, Role.UP)
        if fresh:
            await print_join_commands(running.manager)
        api = running.manager.api_addr
        nopts: NodeOptions = _pick(
            NodeOptions,
            s,
            metrics_addr=s["node_metrics_addr"],
            join=api,
            token="",
            advertise_addr=api.rsplit(":", 1)[0],
            docker_socket=defaults.NODE_DOCKER_SOCKET_NAME,  # beside the manager's docker.sock
        )
        node = await start_node(ctx, nopts, shared_identity_dir=os.path.join(mopts.home, "tls"))
        await start_agent(ctx, node)
        return None

    return assemble
