"""The Engine API server: aiohttp on a root-only unix socket, each endpoint one call of the control API.

The rule: no endpoint decides anything. Each calls the manager's own ControlService in-process (the
same object the gRPC server serves, so a follower forwards to the leader as it does for `svc`) and
converts with shapes/specin. Root on the manager host is an admin already (the local CLI's admin
credential lives in the run dir too), so the socket is mode 0600 and the calls are an admin's;
over TCP (`--docker-tcp`), mutual TLS admits an admin's client bundle only (tcp.py).
Negotiation, errors, routes and the socket are svc/dockerapi's, shared with the nodes' server: paths
are served with and without a `/v1.NN` prefix; a newer version than 1.41 is refused, as dockerd
refuses it, and the client negotiates down. Errors are `{"message": ...}`, with the status from
proto.http_status; a path svc does not serve is a 501 naming it.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web

from svc import defaults
from svc.dockerapi import http, proto
from svc.dockerapi.http import Route
from svc.errors import Unavailable

from ..controlapi import ControlService
from ..core import Manager
from .base import Calls
from .files import Files
from .logs import Logs
from .networks import Networks
from .nodes import Nodes
from .services import Services
from .swarm import Swarm
from .system import System
from .tasks import Tasks
from .tcp import TLSServing, admin_only

log = logging.getLogger(__name__)


class EngineAPI:
    def __init__(self, manager: Manager, control: ControlService) -> None:
        self.calls = Calls(manager, control)
        self._runners: list[web.AppRunner] = []
        self._renewal: asyncio.Task[None] | None = None
        self.path = ""
        self.tcp_addr = ""

    def routes(self) -> list[Route]:
        parts = (System, Swarm, Services, Logs, Tasks, Nodes, Networks, Files)
        return [route for part in parts for route in part(self.calls).routes()]

    # ----- the server -----

    def app(self, admins_only: bool = False) -> web.Application:
        """The app; `admins_only` for TCP, where a client's certificate must be an admin's (tcp.py)."""
        errors = http.errors_middleware("engine API")
        middlewares = [admin_only, errors] if admins_only else [errors]
        return http.application(self.routes(), middlewares, defaults.DOCKER_API_MAX_BODY_BYTES)

    async def start(self, path: str) -> None:
        """Serve on a unix socket at `path`, mode 0600 from the moment it exists (http.bind_unix)."""
        sock = http.bind_unix(path)
        await web.SockSite(await self._runner(self.app()), sock).start()
        self.path = path
        log.info("Docker Engine API (%s) on unix://%s", proto.API_VERSION, path)

    async def _runner(self, app: web.Application) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        return runner

    async def start_tcp(self, addr: str) -> None:
        """Serve on TCP HOST:PORT with the cluster's mutual TLS, for an admin's client bundle (tcp.py)."""
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        serving = TLSServing(self.calls.m, host)
        site = web.TCPSite(
            await self._runner(self.app(admins_only=True)), host or None, int(port), ssl_context=serving.context
        )
        try:
            await site.start()
        except OSError as exc:
            raise Unavailable(f"cannot serve the Docker API on {addr}: {exc.strerror or exc}") from None
        self._renewal = asyncio.create_task(serving.renew())
        self.tcp_addr = addr
        log.info("Docker Engine API (%s) on tcp://%s (mutual TLS, admin certificates)", proto.API_VERSION, addr)

    async def stop(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
