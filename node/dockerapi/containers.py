"""/containers: create, start, stop, restart, kill, wait, attach, logs, inspect, list, remove: the engine's calls.

The rules: a create body is read by containerin (refusals by name); `wait` registers before it
answers its headers, as dockerd does (docker run sends it before start); `attach` (hijacked, stdout
and stderr, no stdin) streams what the container writes from the moment of the attach until it
exits; logs are stdcopy frames (a node's containers have no TTY).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from svc.aioutil import iterate_in_thread
from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body, finish, flag, hijack
from svc.errors import InvalidArgument, NotFound

from . import containershapes as shapes
from .base import Calls
from .containerin import create_request

_STREAMS = {"stdout": proto.STDOUT, "stderr": proto.STDERR}


def _name(request: web.Request) -> str:
    return request.match_info["id"]


def _grace(request: web.Request) -> float | None:
    raw = request.query.get("t", "")
    if not raw:
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 9:  # Docker's t: whole seconds (-1: the container's own)
        raise InvalidArgument(f"invalid stop timeout {raw!r}: whole seconds")
    return float(raw)


class Containers:
    def __init__(self, calls: Calls) -> None:
        self.c = calls
        self.engine = calls.engine
        self.events = calls.events

    def routes(self) -> list[Route]:
        return [
            ("POST", "/containers/create", self.create),
            ("GET", "/containers/json", self.list),
            ("GET", "/containers/{id}/json", self.inspect),
            ("POST", "/containers/{id}/start", self.start),
            ("POST", "/containers/{id}/stop", self.stop),
            ("POST", "/containers/{id}/restart", self.restart),
            ("POST", "/containers/{id}/kill", self.kill),
            ("POST", "/containers/{id}/wait", self.wait),
            ("POST", "/containers/{id}/attach", self.attach),
            ("GET", "/containers/{id}/logs", self.logs),
            ("DELETE", "/containers/{id}", self.remove),
        ]

    async def create(self, request: web.Request) -> web.Response:
        req = create_request(await body(request))
        name = request.query.get("name", "").lstrip("/")
        if request.query.get("platform"):
            raise proto.Unsupported("--platform on create is not supported by svc: pull the platform's image first")
        c = await self.c.run(self.engine.create, req.spec, name)
        if req.auto_remove:
            self.events.add_auto_remove(c.id)
        return answer({"Id": c.id, "Warnings": []}, 201)

    async def list(self, request: web.Request) -> web.Response:
        if flag(request, "size"):
            raise proto.Unsupported("container sizes (docker ps -s) are not supported by svc")
        f = proto.filters(request.query.get("filters", ""))
        shapes.check_filters(f)
        items = [c for c in self.engine.containers(all=flag(request, "all")) if shapes.matches(c, f)]
        limit = request.query.get("limit", "")
        if limit.lstrip("-").isdigit() and int(limit) > 0:
            items = items[: int(limit)]
        now = time.time()
        return answer([shapes.summary(c, now) for c in items])

    async def inspect(self, request: web.Request) -> web.Response:
        c = self.engine.get(_name(request))
        return answer(shapes.inspect(c, c.id in self.events.auto_remove))

    async def start(self, request: web.Request) -> web.Response:
        c = self.engine.get(_name(request))
        if c.state == "running":
            return web.Response(status=304)
        try:
            await self.c.run(self.engine.start, c.id)
        except Exception:
            self.events.start_failed(c.id)
            raise
        return web.Response(status=204)

    async def stop(self, request: web.Request) -> web.Response:
        c = self.engine.get(_name(request))
        if c.state != "running":
            return web.Response(status=304)
        await self.c.run(self.engine.stop, c.id, _grace(request))
        return web.Response(status=204)

    async def restart(self, request: web.Request) -> web.Response:
        c = self.engine.get(_name(request))
        await self.c.run(self.engine.stop, c.id, _grace(request))
        try:
            await self.c.run(self.engine.start, c.id)
        except Exception:
            self.events.start_failed(c.id)
            raise
        return web.Response(status=204)

    async def kill(self, request: web.Request) -> web.Response:
        await self.c.run(self.engine.kill, _name(request), request.query.get("signal") or "SIGKILL")
        return web.Response(status=204)

    async def remove(self, request: web.Request) -> web.Response:
        if flag(request, "link"):
            raise proto.Unsupported("links (docker rm --link) are not supported by svc")
        await self.c.run(self.engine.remove, _name(request), flag(request, "force"))
        return web.Response(status=204)

    async def wait(self, request: web.Request) -> web.StreamResponse:
        condition = request.query.get("condition", "") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition {condition!r}: not-running, next-exit or removed")
        c = self.engine.get(_name(request))  # 404 before the headers
        since = self.events.exits[c.id]
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)  # the headers now: the client starts the container once it has them

        def gone() -> bool:
            return request.transport is None or request.transport.is_closing()

        code = await self.events.wait(c.id, condition, since, gone)
        if code >= 0 or not gone():
            await resp.write(json.dumps({"StatusCode": max(code, 0), "Error": None}).encode())
            await resp.write_eof()
        return resp

    async def attach(self, request: web.Request) -> web.StreamResponse:
        c = self.engine.get(_name(request))
        if flag(request, "stdin"):
            raise proto.Unsupported("attaching stdin (docker run -i, docker attach) is not supported by svc")
        if not flag(request, "stream") or flag(request, "logs"):
            raise proto.Unsupported("attach without stream=1, or with logs=1, is not supported by svc: use logs")
        wanted = {v for k, v in _STREAMS.items() if flag(request, k)}
        since, starts, failed = time.time(), self.events.starts[c.id], self.events.failed[c.id]
        self.events.attached[c.id] += 1
        try:
            resp, raw = await hijack(request)
            try:
                while not raw.closed:  # until it runs (or ran and exited since the attach)
                    try:
                        now = self.engine.get(c.id)
                    except NotFound:
                        return resp
                    if now.state == "running" or self.events.starts[c.id] > starts or now.finished_at >= since:
                        break
                    if self.events.failed[c.id] > failed:
                        return resp
                    await self.events.changed()
                async for entry in self._entries(c.id, follow=True, tail=-1, since=since):
                    stream = _STREAMS.get(entry.stream, proto.STDOUT)
                    if stream in wanted:
                        await raw.write(proto.frame(stream, entry.data))
            except (ConnectionError, NotFound):
                pass
            finally:
                finish(raw)
            return resp
        finally:
            self.events.attached[c.id] -= 1
            self.events.notify()

    def _entries(self, cid: str, follow: bool, tail: int, since: float | None) -> Any:
        """The container's log entries (tail -1: all; 0: none of the past), from `since` on."""

        def make(stop: Any) -> Any:
            return self.engine.logs(cid, follow, max(tail, 0), stop=stop)

        async def gen() -> Any:
            async for entry in iterate_in_thread(make):
                if since is not None and entry.time < since:
                    continue
                yield entry

        return gen()

    async def logs(self, request: web.Request) -> web.StreamResponse:
        c = self.engine.get(_name(request))
        wanted = {v for k, v in _STREAMS.items() if flag(request, k)}
        if not wanted:
            raise InvalidArgument("Bad parameters: you must choose at least one stream")
        raw_tail = request.query.get("tail", "all") or "all"
        if raw_tail != "all" and not raw_tail.isdigit():
            raise InvalidArgument(f"invalid tail {raw_tail!r}: a number or all")
        tail = -1 if raw_tail == "all" else int(raw_tail)
        since = proto.since_param(request.query.get("since", ""))
        until = proto.since_param(request.query.get("until", ""))
        if tail == 0:
            since = max(since or 0.0, time.time())
        stamps, details = flag(request, "timestamps"), flag(request, "details")
        follow = flag(request, "follow")
        resp = web.StreamResponse(headers={"Content-Type": proto.RAW_STREAM})
        await resp.prepare(request)
        try:
            async for entry in self._entries(c.id, follow, tail, since):
                if until is not None and entry.time > until:
                    break
                stream = _STREAMS.get(entry.stream, proto.STDOUT)
                if stream not in wanted:
                    continue
                data = entry.data
                if details:
                    data = b" " + data  # no log attributes: dockerd's empty details, then a space
                if stamps:
                    data = proto.rfc3339_nano(entry.time).encode() + b" " + data
                await resp.write(proto.frame(stream, data))
        except (ConnectionError, NotFound):
            return resp
        await resp.write_eof()
        return resp
