"""`svcd up`: a one-host cluster in one process, a manager and a node sharing one identity."""

from __future__ import annotations

import asyncio
from typing import Any

from svc import sdnotify

from .bootstrap import ManagerOptions, ManagerState
from .daemon import print_join_commands, start_manager


async def run_up(s: dict[str, Any]) -> None:
    from node.daemon import NodeOptions, install_stop_signals, run_node

    stop = install_stop_signals()
    mopts = ManagerOptions(
        data_dir=s["data_dir"],
        run_dir=s["run_dir"],
        listen_addr=s["listen_addr"],
        advertise_addr=s["advertise_addr"],
        raft_port=int(s["raft_port"]),
        metrics_addr=s["metrics_addr"],
        hostname=s["hostname"],
        heartbeat_period=float(s["heartbeat_period"]),
        cert_lifetime=float(s["cert_lifetime"]),
    )
    mopts.init = ManagerState.load(mopts.home) is None
    running = await start_manager(mopts)
    if mopts.init:
        await print_join_commands(running.manager)
    nopts = NodeOptions(
        data_dir=s["data_dir"],
        run_dir=s["run_dir"],
        runtime=s["runtime"],
        conmon=s["conmon"],
        cgroup_parent=s["cgroup_parent"],
        bridge=s["bridge"],
        subnet=s["subnet"],
        metrics_addr=s["node_metrics_addr"],
        join=running.manager.api_addr,
        hostname=s["hostname"],
        labels=s["labels"] or [],
        advertise_addr=running.manager.api_addr.rsplit(":", 1)[0],
    )
    ready = asyncio.Event()
    node = asyncio.create_task(run_node(nopts, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait([node, waiter], return_when=asyncio.FIRST_COMPLETED)
    if node in done:
        await running.stop()
        node.result()  # the node failed to start: say why
        return
    sdnotify.notify("READY=1")
    try:
        await node
    finally:
        await running.stop()
