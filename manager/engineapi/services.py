"""/services: create, list (with status), inspect, update (at a version, or rolled back), remove.

The rule: Docker's ServiceSpec is read by specin (what svc cannot honour refused by name) and the
control API decides everything; an update keeps what Docker's JSON cannot express (specin.keep_unseen).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body, flag
from svc.errors import InvalidArgument, Unavailable
from svc.v1 import control_pb2 as ctl

from . import shapes, specin
from .base import Calls, joined


class Services:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [
            ("GET", "/services", self.services),
            ("POST", "/services/create", self.create_service),
            ("GET", "/services/{id}", self.service),
            ("POST", "/services/{id}/update", self.update_service),
            ("DELETE", "/services/{id}", self.remove_service),
            ("GET", "/distribution/{name:.+}/json", self.distribution),
        ]

    async def services(self, request: web.Request) -> web.Response:
        status = flag(request, "status")

        async def fetch(items: list[str]) -> list[Any]:
            reply = await self.c.call("ListServices", ctl.ListServicesRequest(filters=items))
            return list(reply.services)

        out = sorted(await joined(proto.filters(request.query.get("filters", "")), fetch), key=lambda s: s.spec.name)
        return answer([shapes.service(s, status) for s in out])

    async def service(self, request: web.Request) -> web.Response:
        s = await self.c.call("GetService", ctl.ServiceRef(service=request.match_info["id"]))
        return answer(shapes.service(s))

    async def create_service(self, request: web.Request) -> web.Response:
        spec = specin.service_spec(await body(request))
        specin.registry_auth(request.headers.get("X-Registry-Auth", ""), spec)
        s = await self.c.call("CreateService", ctl.CreateServiceRequest(spec=spec))
        return answer({"ID": s.id, "Warnings": list(s.warnings) or None}, 201)

    async def update_service(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        if request.query.get("rollback") == "previous":
            s = await self.c.call("RollbackService", ctl.ServiceRef(service=ref))
            return answer({"Warnings": list(s.warnings) or None})
        try:
            version = int(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument("an update needs the version it was read at (?version=N)") from None
        spec = specin.service_spec(await body(request))
        current = await self.c.call("GetService", ctl.ServiceRef(service=ref))
        specin.keep_unseen(spec, current.spec)
        specin.registry_auth(request.headers.get("X-Registry-Auth", ""), spec)
        s = await self.c.call("UpdateService", ctl.UpdateServiceRequest(service=current.id, version=version, spec=spec))
        return answer({"Warnings": list(s.warnings) or None})

    async def remove_service(self, request: web.Request) -> web.Response:
        await self.c.call("RemoveService", ctl.ServiceRef(service=request.match_info["id"]))
        return web.Response(status=200)

    async def distribution(self, request: web.Request) -> web.Response:
        raise Unavailable(
            "svc does not serve registry lookups here: the managers pin a service's image digest themselves"
        )
