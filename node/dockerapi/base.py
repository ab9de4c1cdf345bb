"""What the node's endpoint modules share: the engine, its events, and blocking calls off the loop.

The rule: every endpoint is one or a few calls of the node's own Engine object (the one its gRPC
API serves, node/engine/api.py), so every rule is the engine's. Blocking engine calls run on the
API's own thread pool, so a long exec or stop never starves the daemon's default executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from .events import Events


class Calls:
    def __init__(self, engine: Any, swarm: Callable[[], dict[str, Any]]) -> None:
        self.engine = engine
        self.swarm = swarm  # the node's cluster membership, as /info and /_ping show it
        self.events = Events(engine, engine.cfg.data_dir)
        self._pool = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="docker-api")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self.events.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
