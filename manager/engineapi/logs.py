"""GET /services/{id}/logs and /tasks/{id}/logs: the control API's ServiceLogs as Docker's log stream.

The rule: the lines are exactly what `svc logs` gets (the same ServiceLogs call, the same log broker);
this module only frames them as dockerd does (daemon/cluster/services.go, httputils/write_log_stream.go):
one stdcopy frame per line (an 8-byte header: stream 1 stdout, 2 stderr, 3 an error, then the length),
with `details` the task's context first (`com.docker.swarm.node.id=..,com.docker.swarm.service.id=..,
com.docker.swarm.task.id=..` and a space: the docker CLI reads it to name the task and its node), with
`timestamps` the line's time first. `since` and `tail=0` are applied here to what the broker sends, as
`svc logs` applies --since. An error once the stream has begun is a stream-3 frame, which the CLI shows
and exits non-zero on: never a silently short answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, flag
from svc.errors import InvalidArgument, SvcError
from svc.v1 import control_pb2 as ctl

from .base import Calls
from .tasks import find_task

_CONTEXT = "com.docker.swarm"
_POLL_SECONDS = 1.0  # how often a quiet followed stream checks that its client is still there


def line(msg: ctl.ServiceLogMessage, service_id: str, details: bool, timestamps: bool) -> bytes:
    out = msg.data
    if details:
        ctx = f"{_CONTEXT}.node.id={msg.node_id},{_CONTEXT}.service.id={service_id},{_CONTEXT}.task.id={msg.task_id}"
        out = ctx.encode() + b" " + out
    if timestamps:
        out = proto.rfc3339_nano(msg.time).encode() + b" " + out
    return out


def options(query: Any, now: float) -> tuple[int, float | None, set[str]]:
    """(tail for the broker, since, streams) from Docker's query; InvalidArgument for what is not valid."""
    streams = {s for s in ("stdout", "stderr") if query.get(s, "") in ("1", "true", "True")}
    if not streams:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    raw_tail = query.get("tail", "") or "all"
    since = proto.since_param(query.get("since", ""), "since")
    if raw_tail == "all":
        return 0, since, streams
    try:
        tail = int(raw_tail)
    except ValueError:
        raise InvalidArgument(f"invalid tail {raw_tail!r}: a number or 'all'") from None
    if tail < 0:
        return 0, since, streams
    if tail == 0:  # no old lines: only what comes from now on (svc's broker reads 0 as everything)
        since = max(since or 0.0, now)
        return 1, since, streams
    return tail, since, streams


class Logs:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [("GET", "/services/{id}/logs", self.service_logs), ("GET", "/tasks/{id}/logs", self.task_logs)]

    async def service_logs(self, request: web.Request) -> web.StreamResponse:
        s = await self.c.call("GetService", ctl.ServiceRef(service=request.match_info["id"]))
        return await self._stream(request, s.id, None)

    async def task_logs(self, request: web.Request) -> web.StreamResponse:
        t = await find_task(self.c, request.match_info["id"])
        return await self._stream(request, t.service_id, t.id)

    async def _stream(self, request: web.Request, service_id: str, task_id: str | None) -> web.StreamResponse:
        follow, details, timestamps = flag(request, "follow"), flag(request, "details"), flag(request, "timestamps")
        tail, since, streams = options(request.query, time.time())
        messages = self.c.stream("ServiceLogs", ctl.ServiceLogsRequest(service=service_id, follow=follow, tail=tail))
        queue: asyncio.Queue[Any] = asyncio.Queue()
        end = object()

        async def pump() -> None:
            try:
                async for msg in messages:
                    queue.put_nowait(msg)
            except SvcError as exc:
                queue.put_nowait(exc)
            finally:
                queue.put_nowait(end)

        pumping = asyncio.create_task(pump())
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.multiplexed-stream"})
        try:
            await resp.prepare(request)
            held: list[Any] = []
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), _POLL_SECONDS)
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break  # the client went away: stop the subscription
                    continue
                if item is end:
                    break
                if isinstance(item, SvcError):
                    await resp.write(proto.frame(proto.SYSERR, f"Error grabbing logs: {item.message}\n".encode()))
                    break
                if (task_id and item.task_id != task_id) or item.stream not in streams:
                    continue
                if since is not None and item.time < since:
                    continue
                if follow:
                    await resp.write(proto.frame(_kind(item), line(item, service_id, details, timestamps)))
                else:
                    held.append(item)
            for item in sorted(held, key=lambda m: m.time):  # every node's lines in time order, as `svc logs`
                await resp.write(proto.frame(_kind(item), line(item, service_id, details, timestamps)))
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pumping.cancel()
            raise
        finally:
            pumping.cancel()
        return resp


def _kind(msg: ctl.ServiceLogMessage) -> int:
    return proto.STDERR if msg.stream == "stderr" else proto.STDOUT
