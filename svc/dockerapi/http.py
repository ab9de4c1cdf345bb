"""aiohttp glue of an Engine API server: JSON answers and errors, routes with and without a `/v1.NN`
prefix, the root-only unix socket, and hijacked connections.

The rules: an error is `{"message": ...}` with proto.http_status's code (the CLI prints `Error response
from daemon: MESSAGE`); a path not served is a 501 naming it; the socket is mode 0600 from the moment
it exists (bound under a temporary name, then renamed over a stale one). A hijacked stream (attach,
exec start) answers `101 UPGRADED` when the client asked to upgrade (`Upgrade: tcp`), `200` with a raw
stream otherwise, then writes the raw bytes and closes; the client's half-close (its stdin ended)
keeps the connection open for the output, as dockerd's does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from svc.errors import InvalidArgument, SvcError, Unavailable

from . import proto

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]


def answer(doc: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": the docker client reads an error's message only then (no charset).
    return web.Response(body=json.dumps(doc).encode(), status=status, headers={"Content-Type": "application/json"})


def error(status: int, message: str) -> web.Response:
    return answer({"message": message}, status)


async def body(request: web.Request) -> Any:
    """The request's JSON body (None when empty); a 400 naming the fault when it is not JSON."""
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise InvalidArgument(f"the request body is not JSON: {str(exc)[:200]}") from None
    except RecursionError:  # nested past the parser's depth
        raise InvalidArgument("the request body is nested too deeply") from None


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter as docker's client sends it (1/true)."""
    return request.query.get(name, "") in ("1", "true", "True")


def errors_middleware(what: str) -> Any:
    @web.middleware
    async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            proto.check_version(request.match_info.get("version", ""))
            return await handler(request)
        except web.HTTPException:
            raise
        except SvcError as exc:
            return error(proto.http_status(exc), exc.message)
        except Exception as exc:
            log.exception("%s %s %s", what, request.method, request.path)
            return error(500, f"internal error: {type(exc).__name__}: {exc}")

    return _errors


async def unserved(request: web.Request) -> web.Response:
    # "not supported": `docker inspect NAME` then goes on to the next kind of object, as with dockerd
    return error(501, f"svc does not serve {request.method} {request.path}: not supported here (docs/docker-api.md)")


def application(routes: list[Route], middlewares: list[Any], max_body: int) -> web.Application:
    """Every route with and without `/v1.NN`; GET answers HEAD too (the CLI's first /_ping); the rest 501."""
    app = web.Application(middlewares=middlewares, client_max_size=max_body)
    for method, path, fn in routes:
        for prefix in ("", r"/v{version:[0-9]+\.[0-9]+}"):
            if method == "GET":
                app.router.add_get(prefix + path, fn)
            else:
                app.router.add_route(method, prefix + path, fn)
    app.router.add_route("*", "/{tail:.*}", unserved)
    return app


def mem_total() -> int:
    """The host's memory in bytes, as /info's MemTotal (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def bind_unix(path: str) -> socket.socket:
    """A listening unix socket at `path`, mode 0600 from the moment it exists."""
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
    return sock


class _Hijacked(asyncio.Protocol):
    """The connection's protocol once hijacked: the client's bytes are dropped (svc attaches no stdin),
    its half-close keeps the connection open, a loss is noted and passed on to aiohttp's handler."""

    def __init__(self, orig: Any) -> None:
        self.orig = orig
        self.lost = False

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.orig.connection_lost(exc)

    def pause_writing(self) -> None:
        self.orig.pause_writing()

    def resume_writing(self) -> None:
        self.orig.resume_writing()


class RawStream:
    """A hijacked connection's output side."""

    def __init__(self, transport: asyncio.Transport, proto_: _Hijacked, resp: web.StreamResponse | None) -> None:
        self.transport = transport
        self._proto = proto_
        self._resp = resp  # not upgraded: a plain streamed answer, framed by aiohttp

    @property
    def closed(self) -> bool:
        return self._proto.lost or self.transport.is_closing()

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the client went away")
        if self._resp is not None:
            await self._resp.write(data)
            return
        self.transport.write(data)
        while self.transport.get_write_buffer_size() > 1 << 20 and not self.closed:
            await asyncio.sleep(0.01)


async def hijack(request: web.Request) -> tuple[web.StreamResponse, RawStream]:
    """Take the connection over (see the module's rule); the caller writes, then returns the response."""
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    headers = {"Content-Type": proto.RAW_STREAM}
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    resp = web.StreamResponse(status=101 if upgrade else 200, reason="UPGRADED" if upgrade else "OK", headers=headers)
    resp.force_close()
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    raw = _Hijacked(transport.get_protocol())
    transport.set_protocol(raw)  # before the answer: the client half-closes once it has it
    await resp.prepare(request)
    return resp, RawStream(transport, raw, None if upgrade else resp)  # type: ignore[arg-type]


def finish(stream: RawStream) -> None:
    if stream._resp is None:
        stream.transport.close()  # flushes what is buffered, then closes
