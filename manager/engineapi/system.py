"""Negotiation and the daemon's description: /_ping, /version, /info.

The rule: only what svc is, is announced. `Swarm: active/manager` (so the CLI shows its service,
node and stack commands), API 1.41, and an /info whose Swarm section is the control API's
ClusterInfo; a manager runs no containers, and its one warning says so rather than letting the
CLI guess warnings from engine fields a manager does not have.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from aiohttp import web

from svc import defaults
from svc.dockerapi import http, proto
from svc.dockerapi.http import Route, answer
from svc.v1 import common_pb2
from svc.v1 import control_pb2 as ctl

from ..core import Manager
from .base import Calls


class System:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [("GET", "/_ping", self.ping), ("GET", "/version", self.version), ("GET", "/info", self.info)]

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="" if request.method == "HEAD" else "OK", headers=proto.ping_headers("active/manager"))

    async def version(self, request: web.Request) -> web.Response:
        return answer(proto.version_doc(arch(), platform.release()))

    async def info(self, request: web.Request) -> web.Response:
        ci = await self.c.call("ClusterInfo", common_pb2.Empty())
        nodes = await self.c.call("ListNodes", ctl.ListNodesRequest())
        cluster = cluster_doc(self.c.m, ci)
        swarm = {
            "NodeID": self.c.m.node_id,
            "NodeAddr": self.c.m.api_addr.rsplit(":", 1)[0],
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": [
                {"NodeID": n.id, "Addr": n.manager_status.api_addr} for n in nodes.nodes if n.HasField("manager_status")
            ],
            "Nodes": ci.nodes,
            "Managers": len(ci.managers),
            "Cluster": cluster,
        }
        return answer(
            {
                "ID": self.c.m.node_id,
                "Name": self.c.m.hostname,
                "ServerVersion": defaults.VERSION,
                "OSType": "linux",
                "OperatingSystem": f"svc manager {defaults.VERSION}",
                "Architecture": arch(),
                "KernelVersion": platform.release(),
                "NCPU": os.cpu_count() or 0,
                "MemTotal": http.mem_total(),
                "Containers": 0,
                "Images": 0,
                "Plugins": {"Volume": [], "Network": ["overlay"], "Log": []},
                "RegistryConfig": {"InsecureRegistryCIDRs": [], "IndexConfigs": {}, "Mirrors": []},
                "SecurityOptions": [],
                "Runtimes": {},
                "Swarm": swarm,
                # The CLI guesses warnings from the engine fields when this is empty: a manager has no engine.
                "Warnings": ["NOTE: an svc manager: it runs no containers itself, its cluster's nodes do"],
            }
        )


def _cert_lifetime(m: Manager) -> float:
    cluster = m.cluster  # this manager's replica: a display value, as fresh as its Raft log
    return (cluster.cert_lifetime if cluster is not None else 0.0) or defaults.CERT_LIFETIME_SECONDS


def arch() -> str:
    return platform.machine()


def cluster_doc(m: Manager, ci: ctl.ClusterInfoResponse) -> dict[str, Any]:
    """The cluster as /info's Swarm.Cluster and /swarm show it: what svc has of Docker's ClusterSpec."""
    return {
        "ID": ci.cluster_id,
        "Version": {"Index": m.cluster.version if m.cluster is not None else 0},
        "CreatedAt": proto.rfc3339(0),
        "UpdatedAt": proto.rfc3339(0),
        "Spec": {
            "Name": "default",
            "Orchestration": {"TaskHistoryRetentionLimit": defaults.TASK_HISTORY_PER_SLOT},
            "Dispatcher": {"HeartbeatPeriod": int(ci.heartbeat_period_seconds * proto.NS)},
            "CAConfig": {"NodeCertExpiry": int(_cert_lifetime(m) * proto.NS)},
            "EncryptionConfig": {"AutoLockManagers": ci.autolock},
        },
        "DefaultAddrPool": [defaults.OVERLAY_ADDR_POOL],
        "SubnetSize": defaults.OVERLAY_SUBNET_PREFIX,
    }
