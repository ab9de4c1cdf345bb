"""The manager of a promoted node, in the node's own process.

`svc node promote` marks a worker a manager; its agent renews into a manager's certificate
and hands it here: we join Raft through the leader, record the role `promoted`, and start a
manager (the same assembly as `svcd manager`). When `svcd node` restarts with that role, the
manager resumes. A demotion stops the manager, records the role `node` again, and the node
goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os

from manager.bootstrap import ManagerOptions, join_raft
from node.agent.agent import Agent
from svc import defaults, tls
from svc.netaddr import local_ip, split_addr

from .datadir import DataDir, Role
from .manager import RunningManager, start_manager
from .node import NodeOptions

log = logging.getLogger("svcd.node")


class PromotedManager:
    def __init__(self, opts: NodeOptions, data_dir: DataDir, agent: Agent) -> None:
        self.opts = opts
        self.data_dir = data_dir
        self.agent = agent
        self.running: RunningManager | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def options(self) -> ManagerOptions:
        o = self.opts
        host = o.advertise_addr or local_ip()
        metrics_host = split_addr(o.metrics_addr)[0] if o.metrics_addr else ""
        return ManagerOptions(
            data_dir=o.data_dir,
            run_dir=o.run_dir,
            listen_addr=f"{host}:{defaults.MANAGER_GRPC_PORT}",
            advertise_addr=host,
            raft_port=defaults.MANAGER_RAFT_PORT,
            metrics_addr=f"{metrics_host}:{defaults.MANAGER_METRICS_PORT}" if metrics_host else "",
            join="",
            token="",
            init=False,
            hostname=o.hostname,
            heartbeat_period=defaults.HEARTBEAT_PERIOD_SECONDS,
            cert_lifetime=defaults.CERT_LIFETIME_SECONDS,
            insecure_registries=o.insecure_registries,
            registry_mirrors=o.registry_mirrors,
        )

    async def resume(self) -> None:
        async with self._lock:
            self.running = await start_manager(self.options())
            self._watch = asyncio.create_task(self._watch_demotion(self.running), name="watch-demotion")

    async def promote(self, identity: tls.Identity, via: str) -> None:
        """The agent's promotion callback: become a Raft member, then run the manager here."""
        mopts = self.options()
        identity.save(os.path.join(mopts.home, "tls"))
        state = await join_raft(mopts, identity, via)
        state.save(mopts.home)
        self.data_dir.set_role(Role.PROMOTED)
        await self.resume()
        log.info("manager started on %s (raft %s)", state.api_addr, state.raft_addr)

    async def _watch_demotion(self, running: RunningManager) -> None:
        await running.manager.demoted.wait()
        async with self._lock:
            await running.stop()
            self.running = None
            home = running.opts.home
            os.replace(os.path.join(home, "state.json"), os.path.join(home, "state.json.demoted"))
            self.data_dir.set_role(Role.NODE)
            self.agent.take_over_identity()
        log.info("this node was demoted: its manager stopped; the node goes on")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        async with self._lock:
            if self.running is not None:
                await self.running.stop()
                self.running = None
