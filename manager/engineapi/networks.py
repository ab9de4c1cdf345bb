"""/networks: list (filters id, name, label, driver; scope and type as Docker names svc's), inspect,
create, remove, mapped onto the control API's network calls.

The rule: svc has overlay networks, swarm-scoped, made by the managers; nothing else is announced.
Docker's `bridge`, `host` and `none` are not objects here (a service may still name them as its
network mode, as specin reads it). Create answers 201 {Id, Warning}; remove 204, as dockerd does,
once the network is really gone (see `remove`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body
from svc.errors import Conflict
from svc.v1 import control_pb2 as ctl

from . import objshapes
from .base import Calls, joined

REMOVE_WAIT_SECONDS = 60.0  # at most this long for a removed service's tasks to let go of a network
# Docker's filters that only ever match all or nothing of svc's networks.
_ALL = {"scope": ("swarm",), "type": ("custom",)}


class Networks:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [
            ("GET", "/networks", self.networks),
            ("POST", "/networks/create", self.create),
            ("GET", "/networks/{id}", self.network),
            ("DELETE", "/networks/{id}", self.remove),
        ]

    async def networks(self, request: web.Request) -> web.Response:
        f = proto.filters(request.query.get("filters", ""))
        for key, matching in _ALL.items():
            values = f.pop(key, [])
            if values and not set(values) & set(matching):
                return answer([])

        async def fetch(items: list[str]) -> list[Any]:
            reply = await self.c.call("ListNetworks", ctl.ListNetworksRequest(filters=items))
            return list(reply.networks)

        found = await joined(f, fetch)
        return answer([objshapes.network(n) for n in sorted(found, key=lambda n: n.spec.name)])

    async def network(self, request: web.Request) -> web.Response:
        n = await self.c.call("GetNetwork", ctl.NetworkRef(network=request.match_info["id"]))
        return answer(objshapes.network(n))

    async def create(self, request: web.Request) -> web.Response:
        spec = objshapes.network_spec(await body(request))
        n = await self.c.call("CreateNetwork", ctl.CreateNetworkRequest(spec=spec))
        return answer({"Id": n.id, "Warning": ""}, 201)

    async def remove(self, request: web.Request) -> web.Response:
        """Removed once no task holds an address on it: swarmkit answers at once and frees the addresses
        later, svc's store refuses while its services' last tasks shut down, so with no service on it
        the call waits for them (as `svc stack rm` does); a service still on it is refused at once."""
        ref = ctl.NetworkRef(network=request.match_info["id"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REMOVE_WAIT_SECONDS
        while True:
            try:
                await self.c.call("RemoveNetwork", ref)
                return web.Response(status=204)
            except Conflict:
                n = await self.c.call("GetNetwork", ref)
                if n.services or loop.time() > deadline:
                    raise
                ref.network = n.id
                await asyncio.sleep(0.5)  # its tasks are shutting down
