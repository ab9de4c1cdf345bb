"""A node's negotiation and description: /_ping, /version, /info (the engine's part).

The rule: only what this node is, is announced. `Swarm` is `inactive` for an engine alone and
`active/worker` for a joined node (the CLI then hides its swarm commands: a node's socket serves
no services); /info's counts and runtimes are Engine.info()'s; the legacy warnings the CLI
derives from /info's booleans say what svc does not limit (swap, kernel memory, CPU shares).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from aiohttp import web

from svc import defaults
from svc.dockerapi import http, proto
from svc.dockerapi.http import Route, answer

from .base import Calls


def info_doc(info: dict[str, Any], swarm: dict[str, Any], hostname: str, root_dir: str = "") -> dict[str, Any]:
    """/info from Engine.info() and the node's membership ({} when it joined no cluster)."""
    running, total = int(info["containers_running"]), int(info["containers"])  # type: ignore[call-overload]
    runtimes = {name: {"path": name} for name in info["runtimes"]}
    cgroup = str(info.get("cgroup_mode", ""))
    return {
        "ID": swarm.get("NodeID", ""),
        "Name": hostname,
        "ServerVersion": defaults.VERSION,
        "OSType": "linux",
        "OperatingSystem": f"svc node {defaults.VERSION}",
        "Architecture": platform.machine(),
        "KernelVersion": platform.release(),
        "NCPU": os.cpu_count() or 0,
        "MemTotal": http.mem_total(),
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": total - running,
        "Images": int(info["images"]),
        "Driver": "overlay",
        "DockerRootDir": root_dir,
        "LiveRestoreEnabled": True,  # containers run on under conmon across a daemon restart (docs/engine.md)
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if cgroup == "unified" or cgroup == "v2" else "1",
        "DefaultRuntime": info["runtime"],
        "Runtimes": runtimes,
        "MemoryLimit": True,
        "SwapLimit": False,
        "KernelMemory": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": False,
        "CPUSet": False,
        "PidsLimit": True,
        "OomKillDisable": False,
        "IPv4Forwarding": True,
        "BridgeNfIptables": True,
        "BridgeNfIp6tables": True,
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["k8s-file"]},
        "RegistryConfig": {"InsecureRegistryCIDRs": [], "IndexConfigs": {}, "Mirrors": []},
        "SecurityOptions": ["name=seccomp,profile=default"],
        "Swarm": swarm or {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": False},
        "Warnings": None,
    }


class System:
    def __init__(self, calls: Calls) -> None:
        self.c = calls

    def routes(self) -> list[Route]:
        return [("GET", "/_ping", self.ping), ("GET", "/version", self.version), ("GET", "/info", self.info)]

    async def ping(self, request: web.Request) -> web.Response:
        swarm = "active/worker" if self.c.swarm() else "inactive"
        return web.Response(text="" if request.method == "HEAD" else "OK", headers=proto.ping_headers(swarm))

    async def version(self, request: web.Request) -> web.Response:
        return answer(proto.version_doc(platform.machine(), platform.release()))

    async def info(self, request: web.Request) -> web.Response:
        info = await self.c.run(self.c.engine.info)
        return answer(info_doc(info, self.c.swarm(), platform.node(), self.c.engine.cfg.data_dir))
