"""/swarm: the cluster, its tokens and autolock, and what svc does instead of docker's other swarm commands.

The rule: GET /swarm (docker swarm join-token, docker swarm ca, docker info's habits) is the control
API's ClusterInfo and JoinToken; `swarm unlock-key [--rotate]` is UnlockKey. An update (at the version
read) is the control API's calls for what svc can change: autolock (UpdateCluster), the join tokens'
and the unlock key's rotation (JoinToken, UnlockKey); any other field of the spec that differs from
what GET /swarm showed is refused naming it and svc's way, before anything is changed. Init, join,
leave and unlock change a cluster the way dockerd does, which svc does with its own daemons and
commands: each answers an error naming svc's way, never a success.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body, flag
from svc.errors import InvalidArgument, NotFound, OutOfDate
from svc.v1 import common_pb2
from svc.v1 import control_pb2 as ctl

from .base import Calls
from .system import cluster_doc

DATA_PATH_PORT = 4789  # VXLAN's port, as svc's overlay uses it

_INSTEAD = {
    "join": "svc adds hosts with its own daemons: `svcd node --join ADDR --token T` or `svcd manager --join ...` "
    "(`docker swarm join-token -q worker|manager` prints the token)",
    "leave": "svc removes a node with `svc node rm` once its `svcd node` is stopped (`svc node demote` first for a "
    "manager)",
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
            ("POST", "/swarm/update", self.update),
            ("POST", "/swarm/{verb:join|leave|unlock}", self.refused),
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

    async def update(self, request: web.Request) -> web.Response:
        try:
            version = int(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument("a swarm update needs the version it was read at (?version=N)") from None
        spec = await body(request)
        ci = await self.c.call("ClusterInfo", common_pb2.Empty())
        current = cluster_doc(self.c.m, ci)
        if version != current["Version"]["Index"]:
            raise OutOfDate(
                f"update out of sequence: the swarm is at version {current['Version']['Index']}, not {version}"
            )
        autolock = changed_autolock(current["Spec"], spec)  # refuses any other change, before any call
        if autolock is not None:
            await self.c.call("UpdateCluster", ctl.UpdateClusterRequest(autolock=autolock))
        for role in ("worker", "manager"):
            if flag(request, f"rotate{role.capitalize()}Token"):
                await self.c.call("JoinToken", ctl.JoinTokenRequest(role=role, rotate=True))
        if flag(request, "rotateManagerUnlockKey"):
            await self.c.call("UnlockKey", ctl.UnlockKeyRequest(rotate=True))
        return web.Response(status=200)

    async def unlock_key(self, request: web.Request) -> web.Response:
        reply = await self.c.call("UnlockKey", ctl.UnlockKeyRequest())
        if not reply.unlock_key:
            raise NotFound("no unlock key is set: autolock is off (`svc cluster update --autolock=true`)")
        return answer({"UnlockKey": reply.unlock_key})

    async def init(self, request: web.Request) -> web.Response:
        ci = await self.c.call("ClusterInfo", common_pb2.Empty())
        raise InvalidArgument(
            f"this manager is part of svc cluster {ci.cluster_id} already; "
            "svc makes a new cluster with `svcd manager --init` on a fresh data dir"
        )

    async def refused(self, request: web.Request) -> web.Response:
        verb = request.match_info["verb"]
        raise proto.Unsupported(f"svc does not serve docker swarm {verb}: {_INSTEAD[verb]}")


_AUTOLOCK = "Spec.EncryptionConfig.AutoLockManagers"
# svc's way for what docker's swarm update would change
_HINTS = {
    "Spec.Dispatcher.HeartbeatPeriod": "svcd manager --heartbeat-period",
    "Spec.CAConfig.NodeCertExpiry": "svcd manager --cert-lifetime",
    "Spec.CAConfig.ForceRotate": "svc cluster ca --rotate",
    "Spec.CAConfig.SigningCACert": "svc cluster ca --rotate",
    "Spec.Orchestration.TaskHistoryRetentionLimit": "svc keeps a fixed history per slot",
}


def changed_autolock(current: dict[str, Any], given: Any, where: str = "Spec") -> bool | None:
    """The new autolock setting in `given` (None: unchanged); InvalidArgument naming any other field
    that differs from `current` (absent, zero and empty are alike)."""
    if given is None:
        return None
    if not isinstance(given, dict):
        raise InvalidArgument(f"{where} must be a JSON object")
    autolock: bool | None = None
    for key, value in given.items():
        path, ours = f"{where}.{key}", current.get(key)
        if isinstance(value, dict) and (ours is None or isinstance(ours, dict)):
            inner = changed_autolock(ours or {}, value, path)
            autolock = inner if inner is not None else autolock
        elif path == _AUTOLOCK:
            if bool(value) != bool(ours):
                autolock = bool(value)
        elif value != ours and not (ours is None and value in (None, "", 0, False, [], {})):
            way = _HINTS.get(path, "svc does not change it through the Docker API")
            raise InvalidArgument(f"{path} cannot be changed here ({way})")
    return autolock
