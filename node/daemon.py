"""`svcd node`: the engine, its local API, and (with --join) the cluster agent."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from svc import defaults, sdnotify

log = logging.getLogger("svcd.node")


@dataclass
class NodeOptions:
    data_dir: str = defaults.DATA_DIR
    run_dir: str = defaults.RUN_DIR
    runtime: str = defaults.DEFAULT_RUNTIME
    conmon: str = "conmon"
    cgroup_parent: str = defaults.CGROUP_PARENT
    bridge: str = defaults.BRIDGE_NAME
    subnet: str = defaults.BRIDGE_SUBNET
    metrics_addr: str = f"127.0.0.1:{defaults.NODE_METRICS_PORT}"
    join: str = ""
    token: str = ""
    hostname: str = ""
    labels: list[str] = field(default_factory=list)
    advertise_addr: str = ""

    @property
    def engine_socket(self) -> str:
        return os.path.join(self.run_dir, defaults.ENGINE_SOCKET_NAME)


def engine_config(opts: NodeOptions) -> Any:
    from node.engine.engine import EngineConfig

    return EngineConfig(
        data_dir=os.path.join(opts.data_dir, "node"),
        run_dir=os.path.join(opts.run_dir, "engine"),
        runtime=opts.runtime,
        conmon=opts.conmon,
        cgroup_parent=opts.cgroup_parent,
        bridge=opts.bridge,
        subnet=opts.subnet,
    )


async def run_node(opts: NodeOptions, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set). Containers keep running afterwards."""
    from node.engine.api import serve_unix
    from node.engine.engine import Engine

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="engine"))
    stop = stop or install_stop_signals()
    if opts.join:
        from node.agent.agent import join, needs_join

        if needs_join(opts.data_dir):  # join first: a refused token leaves nothing behind
            await join(os.path.join(opts.data_dir, "node"), opts.join, opts.token, opts.hostname)
    engine = await asyncio.to_thread(Engine, engine_config(opts))
    server = None
    extras: list[Any] = []
    try:
        server = await serve_unix(engine, opts.engine_socket)
        await _start_extras(engine, opts, extras)
    except BaseException:
        await _shutdown(engine, server, extras)
        raise
    log.info("node engine ready on %s (runtime %s)", opts.engine_socket, engine.cfg.runtime)
    sdnotify.notify("READY=1")
    if ready:
        ready.set()
    try:
        await stop.wait()
    finally:
        sdnotify.notify("STOPPING=1")
        await _shutdown(engine, server, extras)
        log.info("node stopped; containers keep running")


async def _shutdown(engine: Any, server: Any, extras: list[Any]) -> None:
    for extra in reversed(extras):
        await extra.stop()
    if server is not None:
        await server.stop(2)
    await asyncio.to_thread(engine.close)


async def _start_extras(engine: Any, opts: NodeOptions, extras: list[Any]) -> None:
    """Optional parts: metrics endpoint and cluster agent (each has async start/stop)."""
    metrics = None
    if opts.metrics_addr:
        from node.metrics import NodeMetrics

        metrics = NodeMetrics(engine, opts.metrics_addr)
        await metrics.start()
        extras.append(metrics)
    if opts.join:
        from node.agent.agent import Agent
        from node.localmanager import LocalManager

        agent = Agent.from_options(engine, opts)
        local = LocalManager(opts, agent)
        if LocalManager.present(opts.data_dir):  # a promoted host: its manager runs here too
            await local.resume()
        extras.append(local)
        agent.on_promoted = local.promote
        await agent.start()
        extras.append(agent)
        if metrics is not None:
            from node.metrics import AgentCollector

            metrics.add(AgentCollector(agent))


def install_stop_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
