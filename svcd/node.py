"""A node, assembled from its parts: the engine, its local API, metrics and (joined) the agent.

Used by `svcd node` and `svcd up`. Rule: joining comes first, before anything is made, so a
refused token leaves nothing behind; each later part registers its stop on the daemon's
exit stack as soon as it exists. Stopping a node never stops its containers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from node.agent.agent import Agent, join, needs_join
from node.engine.engine import Engine, EngineConfig
from node.engine.imagecollector import GcPolicy
from svc import defaults
from svc.kv import parse_kv
from svc.netaddr import check_bindable, local_ip

from .lifecycle import Context

log = logging.getLogger("svcd.node")


@dataclass
class NodeOptions:
    """What a node is started with; every default is in svcd/options.py."""

    data_dir: str
    run_dir: str
    runtime: str
    conmon: str
    cgroup_parent: str
    bridge: str
    subnet: str
    metrics_addr: str
    join: str
    token: str
    hostname: str
    labels: list[str]
    advertise_addr: str
    insecure_registries: list[str]
    registry_mirrors: list[str]
    image_gc_high_threshold: float
    image_gc_low_threshold: float
    image_gc_min_age: float
    peer_port: int
    no_routing_mesh: bool = False
    docker_socket: str = ""  # the node engine's Docker Engine API, under run_dir unless absolute ("": none)

    @property
    def state_dir(self) -> str:
        return os.path.join(self.data_dir, "node")

    @property
    def engine_socket(self) -> str:
        return os.path.join(self.run_dir, defaults.ENGINE_SOCKET_NAME)


def engine_config(opts: NodeOptions) -> EngineConfig:
    return EngineConfig(
        data_dir=opts.state_dir,
        run_dir=os.path.join(opts.run_dir, "engine"),
        runtime=opts.runtime,
        conmon=opts.conmon,
        cgroup_parent=opts.cgroup_parent,
        bridge=opts.bridge,
        subnet=opts.subnet,
        image_gc=GcPolicy(opts.image_gc_high_threshold, opts.image_gc_low_threshold, opts.image_gc_min_age),
        insecure_registries=tuple(opts.insecure_registries),
        registry_mirrors=tuple(opts.registry_mirrors),
        vtep_addr=opts.advertise_addr or local_ip(),  # the overlays' VXLAN source: the address peers know
        routing_mesh=not opts.no_routing_mesh,
        protected_dirs=(opts.data_dir, opts.run_dir),
    )


@dataclass
class RunningNode:
    engine: Engine
    agent: Agent | None
    metrics: object | None


async def start_node(ctx: Context, opts: NodeOptions, shared_identity_dir: str = "") -> RunningNode:
    """Start the node's parts on `ctx`; with `shared_identity_dir` the agent is the manager's own node."""
    from node.engine.api import serve_unix

    labels = parse_kv(opts.labels or [], "label")
    ctx.stack.callback(log.info, "node stopped; containers keep running")  # the last word on stop
    if opts.metrics_addr:
        check_bindable(opts.metrics_addr, "metrics address")
    host = (opts.advertise_addr or local_ip()) if opts.join else ""
    peer_addr = f"{host}:{opts.peer_port}" if opts.peer_port and opts.join else ""
    if peer_addr:  # before joining: a taken port is a one-line error, and nothing is made
        check_bindable(peer_addr, "peer address (--peer-port)")
    if opts.join and not shared_identity_dir and needs_join(opts.state_dir):
        await join(opts.state_dir, opts.join, opts.token, opts.hostname)
    engine = await asyncio.to_thread(Engine, engine_config(opts))
    ctx.on_stop_sync(engine.close)
    api = await serve_unix(engine, opts.engine_socket)
    ctx.on_stop(api.stop, 2)
    metrics = None
    if opts.metrics_addr:
        from node.metrics import NodeMetrics

        metrics = NodeMetrics(engine, opts.metrics_addr)
        await metrics.start()
        ctx.on_stop(metrics.stop)
    agent = None
    if opts.join:
        agent = Agent(
            engine,
            opts.state_dir,
            opts.join,
            opts.token,
            opts.hostname,
            labels,
            host,
            opts.metrics_addr,
            shared_identity_dir=shared_identity_dir,
            peer_addr=peer_addr,
        )
        if peer_addr and agent.identity is not None:
            from node.engine.registry.peerserver import PeerServer

            peers = PeerServer(engine.images, peer_addr, agent.current_identity)
            await asyncio.to_thread(peers.start)
            ctx.on_stop_sync(peers.stop)
    if opts.docker_socket:
        await _serve_docker_api(ctx, opts, engine, agent, host)
    log.info("node engine ready on %s (runtime %s)", opts.engine_socket, engine.cfg.runtime)
    return RunningNode(engine, agent, metrics)


async def _serve_docker_api(ctx: Context, opts: NodeOptions, engine: Engine, agent: Agent | None, host: str) -> None:
    """The Docker Engine API of this node's engine (docs/docker-api.md#a-nodes-engine)."""
    from node.dockerapi.server import NodeDockerAPI

    def swarm() -> dict[str, object]:
        if agent is None or agent.identity is None:
            return {}
        return {
            "LocalNodeState": "active",
            "NodeID": agent.node_id,
            "NodeAddr": host,
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": [{"NodeID": "", "Addr": opts.join}],
        }

    api = NodeDockerAPI(engine, swarm)
    ctx.on_stop(api.stop)
    await api.start(os.path.join(opts.run_dir, opts.docker_socket))


async def start_agent(ctx: Context, node: RunningNode) -> None:
    """Start the agent last: by then everything it may hand work to (a local manager too) runs."""
    if node.agent is None:
        return
    await node.agent.start()
    ctx.on_stop(node.agent.stop)
    if node.metrics is not None:
        from node.metrics import AgentCollector, NodeMetrics

        assert isinstance(node.metrics, NodeMetrics)
        node.metrics.add(AgentCollector(node.agent))
