"""/secrets and /configs: list (filters id, name, names, label), inspect, create, update, remove,
mapped onto the control API's secret calls (one path for both kinds, as svc's own).

The rule: a secret's value never leaves the managers, so no answer carries it (a config's is shown,
as Docker shows it). An update is swarmkit's, the control API's UpdateSecret: only labels may change
(`docker stack deploy` sends one on every redeploy; unchanged, nothing is written), a new name or
value is refused naming it.
Create answers 201 {ID}; remove 204, as dockerd does.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Handler, Route, answer, body
from svc.errors import InvalidArgument
from svc.v1 import control_pb2 as ctl

from . import objshapes
from .base import Calls, joined


class Files:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        out: list[Route] = []
        for kind in ("secret", "config"):
            base = f"/{kind}s"
            out += [
                ("GET", base, self._bind(self.listing, kind)),
                ("POST", f"{base}/create", self._bind(self.create, kind)),
                ("GET", base + "/{id}", self._bind(self.inspect, kind)),
                ("POST", base + "/{id}/update", self._bind(self.update, kind)),
                ("DELETE", base + "/{id}", self._bind(self.remove, kind)),
            ]
        return out

    @staticmethod
    def _bind(fn: Any, kind: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await fn(request, kind)

        return handle

    async def listing(self, request: web.Request, kind: str) -> web.Response:
        f = proto.filters(request.query.get("filters", ""))
        exact = set(f.pop("names", []))
        if exact:  # Docker's `names` is exact; svc's `name` a prefix, so ask by prefix and keep the exact ones
            f["name"] = sorted(set(f.get("name", [])) | exact)

        async def fetch(items: list[str]) -> list[Any]:
            reply = await self.c.call("ListSecrets", ctl.ListSecretsRequest(kind=kind, filters=items))
            return list(reply.secrets)

        found = [s for s in await joined(f, fetch) if not exact or s.spec.name in exact]
        return answer([objshapes.secret(s, kind) for s in sorted(found, key=lambda s: s.spec.name)])

    async def inspect(self, request: web.Request, kind: str) -> web.Response:
        s = await self.c.call("GetSecret", ctl.SecretRef(kind=kind, ref=request.match_info["id"]))
        return answer(objshapes.secret(s, kind))

    async def create(self, request: web.Request, kind: str) -> web.Response:
        spec, _ = objshapes.secret_spec(await body(request), kind)
        s = await self.c.call("CreateSecret", ctl.CreateSecretRequest(kind=kind, spec=spec))
        return answer({"ID": s.id}, 201)

    async def update(self, request: web.Request, kind: str) -> web.Response:
        try:
            version = int(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument(f"a {kind} update needs the version it was read at (?version=N)") from None
        spec, has_data = objshapes.secret_spec(await body(request), kind)
        req = ctl.UpdateSecretRequest(kind=kind, ref=request.match_info["id"], version=version, spec=spec)
        req.compare_data = has_data
        await self.c.call("UpdateSecret", req)
        return web.Response(status=200)

    async def remove(self, request: web.Request, kind: str) -> web.Response:
        await self.c.call("RemoveSecret", ctl.SecretRef(kind=kind, ref=request.match_info["id"]))
        return web.Response(status=204)
