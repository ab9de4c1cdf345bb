"""/tasks: the list with Docker's filters, and inspect.

The rule: Docker's filters (values of a key OR'ed, keys AND'ed) become one control API list call per
combination of values, joined here (`label` through the services that carry it, `name` as a prefix of
the task's name, as swarmkit names tasks); a filter naming an unknown service or node matches nothing, as
in Docker, rather than failing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer
from svc.errors import InvalidArgument, NotFound
from svc.v1 import control_pb2 as ctl

from . import shapes
from .base import Calls


class Tasks:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [
            ("GET", "/tasks", self.tasks),
            ("GET", "/tasks/{id}", self.task),
        ]

    async def tasks(self, request: web.Request) -> web.Response:
        f = proto.filters(request.query.get("filters", ""))
        labels = f.pop("label", [])
        names = f.pop("name", [])  # swarmkit's: a prefix of SERVICE.SLOT.ID (SERVICE.NODE.ID for a global task)
        # Docker's task `label` filter is on the task's service's labels, every one required.
        allowed = await self.labelled_services(labels) if labels else None
        found: dict[str, Any] = {}
        for fs in shapes.filter_sets(f) or [[]]:
            req = ctl.ListTasksRequest()
            for item in fs:
                key, _, value = item.partition("=")
                if key == "service":
                    req.service = value
                elif key == "node":
                    req.node = value
                else:
                    req.filters.append(item)
            if allowed is not None and req.service:
                raise InvalidArgument("svc does not combine the task filters label and service")
            for service in sorted(allowed) if allowed is not None else [req.service]:
                one = ctl.ListTasksRequest()
                one.CopyFrom(req)
                one.service = service
                try:
                    reply = await self.c.call("ListTasks", one)
                except NotFound:
                    if one.service or one.node:
                        continue  # a filter naming nothing matches nothing, as in Docker
                    raise
                found.update((t.id, t) for t in reply.tasks)
        tasks = [t for t in found.values() if not names or any(_name(t).startswith(n) for n in names)]
        return answer([shapes.task(t) for t in tasks])

    async def labelled_services(self, labels: list[str]) -> set[str]:
        """The ids of the services carrying every one of `labels` (k or k=v)."""
        ids: set[str] | None = None
        for label in labels:
            reply = await self.c.call("ListServices", ctl.ListServicesRequest(filters=[f"label={label}"]))
            these = {s.id for s in reply.services}
            ids = these if ids is None else ids & these
        return ids or set()

    async def task(self, request: web.Request) -> web.Response:
        return answer(shapes.task(await find_task(self.c, request.match_info["id"])))


def _name(t: Any) -> str:
    return f"{t.service_name}.{t.slot or t.node_id}.{t.id}"


async def find_task(c: Calls, ref: str) -> Any:
    """A task by id or unique id prefix (the control API lists by id prefix)."""
    reply = await c.call("ListTasks", ctl.ListTasksRequest(filters=[f"id={ref}"])) if ref else None
    tasks = list(reply.tasks) if reply is not None else []
    exact = [t for t in tasks if t.id == ref]
    if exact or len(tasks) == 1:
        return (exact or tasks)[0]
    if not tasks:
        raise NotFound(f"no such task: {ref}")
    raise InvalidArgument(f"task {ref} is ambiguous: {len(tasks)} tasks have ids starting with it")
