"""/nodes: list (filters id, name, role, membership), inspect, update, remove.

The rule: a node update is Docker's whole NodeSpec at the version read; it becomes the control API's
own calls for what changed — UpdateNode (availability, labels added and removed, at that version),
then PromoteNode or DemoteNode for a new role — so every rule (the last manager, a drain) is the
control API's. svc names a node by its hostname: a NodeSpec.Name is refused by name. Remove is
RemoveNode (`force` for a node not down), refused for a manager until demoted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body, flag
from svc.errors import InvalidArgument
from svc.v1 import control_pb2 as ctl

from . import shapes
from .base import Calls
from .specin import _check, _labels, _str

_ROLES = ("worker", "manager")


class Nodes:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [
            ("GET", "/nodes", self.nodes),
            ("GET", "/nodes/{id}", self.node),
            ("POST", "/nodes/{id}/update", self.update),
            ("DELETE", "/nodes/{id}", self.remove),
        ]

    async def nodes(self, request: web.Request) -> web.Response:
        f = proto.filters(request.query.get("filters", ""))
        if f.get("membership") == ["accepted"]:
            del f["membership"]  # every svc node is accepted
        found: dict[str, Any] = {}
        for fs in shapes.filter_sets(f, {"name": "hostname"}) or [[]]:
            reply = await self.c.call("ListNodes", ctl.ListNodesRequest(filters=fs))
            found.update((n.id, n) for n in reply.nodes)
        return answer([shapes.node(n) for n in found.values()])

    async def node(self, request: web.Request) -> web.Response:
        n = await self.c.call("GetNode", ctl.NodeRef(node=request.match_info["id"]))
        return answer(shapes.node(n))

    async def update(self, request: web.Request) -> web.Response:
        try:
            version = int(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument("a node update needs the version it was read at (?version=N)") from None
        spec = _check(await body(request), "node", {"Role", "Availability", "Labels"})
        role, availability = _str(spec, "Role", "node"), _str(spec, "Availability", "node")
        labels = _labels(spec, "Labels", "node")
        if role and role not in _ROLES:
            raise InvalidArgument(f"invalid node Role {role!r}: use worker or manager")
        current = await self.c.call("GetNode", ctl.NodeRef(node=request.match_info["id"]))
        old = dict(current.labels)
        req = ctl.UpdateNodeRequest(node=current.id, version=version, availability=availability)
        req.label_add.extend(f"{k}={v}" for k, v in sorted(labels.items()) if old.get(k) != v)
        req.label_rm.extend(k for k in sorted(old) if k not in labels)
        if (
            req.label_add
            or req.label_rm
            or (availability and availability != current.availability)
            or version != current.version  # nothing to write, but a stale read is a 409, as in Docker
        ):
            await self.c.call("UpdateNode", req)
        if role and role != current.role:
            await self.c.call("PromoteNode" if role == "manager" else "DemoteNode", ctl.NodeRef(node=current.id))
        return web.Response(status=200)

    async def remove(self, request: web.Request) -> web.Response:
        await self.c.call(
            "RemoveNode", ctl.RemoveNodeRequest(node=request.match_info["id"], force=flag(request, "force"))
        )
        return web.Response(status=200)
