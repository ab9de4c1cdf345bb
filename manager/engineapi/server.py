"""The Engine API server: aiohttp on a root-only unix socket, each endpoint one call of the control API.

The rule: no endpoint decides anything. Each calls the manager's own ControlService in-process (the
same object the gRPC server serves, so a follower forwards to the leader as it does for `svc`) and
converts with shapes/specin. Root on the manager host is an admin already (the local CLI's admin
credential lives in the run dir too), so the socket is mode 0600 and the calls are an admin's;
over TCP (`--docker-tcp`), mutual TLS admits an admin's client bundle only (tcp.py).
Paths are served with and without a `/v1.NN` prefix; a newer version than 1.41 is refused, as
dockerd refuses it, and the client negotiates down. Errors are `{"message": ...}`, with the status
from shapes.http_status; a path svc does not serve is a 501 naming it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from aiohttp import web

from svc import defaults
from svc.errors import InvalidArgument, SvcError, Unavailable

from ..controlapi import ControlService
from ..core import Manager
from . import shapes
from .base import Calls, Handler, Route, error
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


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("version", "")
    try:
        if version and shapes.version_newer(version, shapes.API_VERSION):
            raise InvalidArgument(
                f"client version {version} is too new. Maximum supported API version is {shapes.API_VERSION}"
            )
        return await handler(request)
    except web.HTTPException:
        raise
    except SvcError as exc:
        return error(shapes.http_status(exc), exc.message)
    except Exception as exc:
        log.exception("engine API %s %s", request.method, request.path)
        return error(500, f"internal error: {type(exc).__name__}: {exc}")


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

    async def unserved(self, request: web.Request) -> web.Response:
        # "not supported" (docker inspect NAME goes on to the next kind of object on it, as with dockerd)
        what = f"{request.method} {request.path}"
        return error(501, f"svc does not serve {what}: not supported here (docs/docker-api.md)")

    # ----- the server -----

    def app(self, admins_only: bool = False) -> web.Application:
        """The app; `admins_only` for TCP, where a client's certificate must be an admin's (tcp.py)."""
        middlewares = [admin_only, _errors] if admins_only else [_errors]
        app = web.Application(middlewares=middlewares, client_max_size=defaults.DOCKER_API_MAX_BODY_BYTES)
        for method, path, fn in self.routes():
            for prefix in ("", r"/v{version:[0-9]+\.[0-9]+}"):
                if method == "GET":
                    app.router.add_get(prefix + path, fn)  # and HEAD (the CLI's first /_ping)
                else:
                    app.router.add_route(method, prefix + path, fn)
        app.router.add_route("*", "/{tail:.*}", self.unserved)
        return app

    async def start(self, path: str) -> None:
        """Serve on a unix socket at `path`, mode 0600 from the moment it exists (bound under a
        temporary name, then renamed over any stale socket)."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if os.path.exists(tmp):
                os.unlink(tmp)
            sock.bind(tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise Unavailable(f"cannot serve the Docker API on {path}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        await web.SockSite(await self._runner(self.app()), sock).start()
        self.path = path
        log.info("Docker Engine API (%s) on unix://%s", shapes.API_VERSION, path)

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
        log.info("Docker Engine API (%s) on tcp://%s (mutual TLS, admin certificates)", shapes.API_VERSION, addr)

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
