"""The node's Docker Engine API server: aiohttp on a root-only unix socket, over the node's own Engine.

The rule: no endpoint decides anything: each calls the Engine object the node's gRPC API serves
(node/engine/api.py), so every rule is the engine's; the Docker shapes are containershapes,
containerin and images. Root on the host owns the engine already (its gRPC socket is 0600 too),
so the socket is mode 0600 and every call is root's. Negotiation, errors and hijacking are
svc/dockerapi's, shared with the managers' server. A path not served is a 501 naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from aiohttp import web

from svc.dockerapi import http, proto

from .base import Calls
from .containers import Containers
from .execs import Execs
from .images import Images
from .system import System

log = logging.getLogger(__name__)

_MAX_JSON_BODY = 16 << 20  # /images/load streams its body; everything else is small JSON


class NodeDockerAPI:
    def __init__(self, engine: Any, swarm: Callable[[], dict[str, Any]] = dict) -> None:
        self.engine = engine
        self.swarm = swarm
        self.calls: Calls | None = None
        self._runner: web.AppRunner | None = None
        self.path = ""

    def app(self) -> web.Application:
        assert self.calls is not None
        parts = (System, Containers, Execs, Images)
        routes = [route for part in parts for route in part(self.calls).routes()]
        return http.application(routes, [http.errors_middleware("node Docker API")], _MAX_JSON_BODY)

    async def start(self, path: str) -> None:
        self.calls = Calls(self.engine, self.swarm)
        sock = http.bind_unix(path)
        self.path = path
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("Docker Engine API (%s) of this node's engine on unix://%s", proto.API_VERSION, path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.calls is not None:
            self.calls.close()
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
