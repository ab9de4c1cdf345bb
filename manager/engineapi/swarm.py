"""/swarm: the cluster, read-only, and what svc does instead of docker's swarm-changing commands.

The rule: GET /swarm (docker swarm join-token, docker swarm ca, docker info's habits) is the control
API's ClusterInfo and JoinToken; `swarm unlock-key` is UnlockKey. Init, join, leave, update and unlock
change a cluster the way dockerd does, which svc does with its own daemons and commands: each answers
an error naming svc's way, never a success.
"""

from __future__ import annotations

from aiohttp import web

from svc.errors import NotFound
from svc.v1 import common_pb2
from svc.v1 import control_pb2 as ctl

from .base import Calls, Route, answer, error
from .system import cluster_doc

DATA_PATH_PORT = 4789  # VXLAN's port, as svc's overlay uses it

_INSTEAD = {
    "join": "svc adds hosts with its own daemons: `svcd node --join ADDR --token T` or `svcd manager --join ...` "
    "(`docker swarm join-token -q worker|manager` prints the token)",
    "leave": "svc removes a node with `svc node rm` once its `svcd node` is stopped (`svc node demote` first for a "
    "manager)",
    "update": "svc changes its cluster with `svc cluster update --autolock=true|false` and "
    "`svc cluster join-token --rotate worker|manager`",
    "unlock": "a locked svc manager is unlocked with `svc cluster unlock` on its host",
}


class Swarm:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [
            ("GET", "/swarm", self.inspect),
            ("GET", "/swarm/unlockkey", self.unlock_key),
            ("POST", "/swarm/init", self.init),
            ("POST", "/swarm/{verb:join|leave|update|unlock}", self.refused),
        ]

    async def inspect(self, request: web.Request) -> web.Response:
        ci = await self.c.call("ClusterInfo", common_pb2.Empty())
        tokens = {}
        for role in ("worker", "manager"):
            reply = await self.c.call("JoinToken", ctl.JoinTokenRequest(role=role))
            tokens[role.capitalize()] = reply.token
        cluster = self.c.m.cluster  # this manager's replica: public values only
        doc = cluster_doc(self.c.m, ci)
        doc.update(
            {
                "TLSInfo": {"TrustRoot": cluster.ca_cert_pem.decode() if cluster is not None else ""},
                "RootRotationInProgress": bool(cluster is not None and cluster.ca_next_cert_pem),
                "DataPathPort": DATA_PATH_PORT,
                "JoinTokens": tokens,
            }
        )
        return answer(doc)

    async def unlock_key(self, request: web.Request) -> web.Response:
        reply = await self.c.call("UnlockKey", ctl.UnlockKeyRequest())
        if not reply.unlock_key:
            raise NotFound("no unlock key is set: autolock is off (`svc cluster update --autolock=true`)")
        return answer({"UnlockKey": reply.unlock_key})

    async def init(self, request: web.Request) -> web.Response:
        ci = await self.c.call("ClusterInfo", common_pb2.Empty())
        return error(
            400,
            f"this manager is part of svc cluster {ci.cluster_id} already; "
            "svc makes a new cluster with `svcd manager --init` on a fresh data dir",
        )

    async def refused(self, request: web.Request) -> web.Response:
        verb = request.match_info["verb"]
        return error(501, f"svc does not serve docker swarm {verb}: {_INSTEAD[verb]}")
