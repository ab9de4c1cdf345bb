"""A manager inside a node daemon: on a promoted host, and when `svcd node` restarts there.

`svc node promote` marks a worker a manager; its agent renews into a manager's certificate and
hands it here: we join Raft through the leader and start a manager in this process (the same
composition as `svcd up`). A demotion stops it again and leaves the node running.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from svc import defaults, tls
from svc.netaddr import split_addr

log = logging.getLogger("svcd.node")


class LocalManager:
    def __init__(self, opts: Any, agent: Any) -> None:
        self.opts = opts
        self.agent = agent
        self.running: Any = None
        self._watch: asyncio.Task[None] | None = None

    def _options(self) -> Any:
        from manager.bootstrap import ManagerOptions
        from svc.netaddr import local_ip

        host = self.opts.advertise_addr or local_ip()
        metrics_host = split_addr(self.opts.metrics_addr)[0] if self.opts.metrics_addr else ""
        return ManagerOptions(
            data_dir=self.opts.data_dir,
            run_dir=self.opts.run_dir,
            listen_addr=f"{host}:{defaults.MANAGER_GRPC_PORT}",
            advertise_addr=host,
            metrics_addr=f"{metrics_host}:{defaults.MANAGER_METRICS_PORT}" if metrics_host else "",
            hostname=self.opts.hostname,
        )

    @staticmethod
    def present(data_dir: str) -> bool:
        return os.path.exists(os.path.join(data_dir, "manager", "state.json"))

    async def resume(self) -> None:
        from manager.daemon import start_manager

        self.running = await start_manager(self._options())
        self._watch = asyncio.create_task(self._watch_demotion())

    async def promote(self, identity: tls.Identity, via: str) -> None:
        from manager.bootstrap import join_raft

        mopts = self._options()
        identity.save(os.path.join(mopts.home, "tls"))
        state = await join_raft(mopts, identity, via)
        state.save(mopts.home)
        await self.resume()
        log.info("manager started on %s (raft %s)", state.api_addr, state.raft_addr)

    async def _watch_demotion(self) -> None:
        await self.running.manager.demoted.wait()
        home = self.running.opts.home
        await self.running.stop()
        self.running = None
        os.replace(os.path.join(home, "state.json"), os.path.join(home, "state.json.demoted"))
        self.agent.take_over_identity()
        log.info("this node was demoted: its manager stopped; the node goes on")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.running is not None:
            await self.running.stop()
