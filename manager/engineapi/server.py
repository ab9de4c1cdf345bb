"""The Engine API server: aiohttp on a root-only unix socket, each endpoint one call of the control API.

The rule: no endpoint decides anything. Each calls the manager's own ControlService in-process (the
same object the gRPC server serves, so a follower forwards to the leader as it does for `svc`) and
converts with shapes/specin. Root on the manager host is an admin already (the local CLI's admin
credential lives in the run dir too), so the socket is mode 0600 and the calls are an admin's.
Paths are served with and without a `/v1.NN` prefix; a newer version than 1.41 is refused, as
dockerd refuses it, and the client negotiates down. Errors are `{"message": ...}`, with the status
from shapes.http_status; a path svc does not serve is a 501 naming it.
"""

from __future__ import annotations

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
from .services import Services
from .swarm import Swarm
from .system import System
from .tasks import TasksNodes

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
        self._runner: web.AppRunner | None = None
        self.path = ""

    def routes(self) -> list[Route]:
        parts = (System, Swarm, Services, Logs, TasksNodes, Networks, Files)
        return [route for part in parts for route in part(self.calls).routes()]

    async def unserved(self, request: web.Request) -> web.Response:
        return error(501, f"svc does not serve {request.method} {request.path} (docs/docker-api.md)")

    # ----- the server -----

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=defaults.GRPC_MAX_MESSAGE_BYTES)
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
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.path = path
        log.info("Docker Engine API (%s) on unix://%s", shapes.API_VERSION, path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
