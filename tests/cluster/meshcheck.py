"""What the routing-mesh cluster tests look at on a namespace host: commands in it, a GET from
the test process, and what of the mesh (or any overlay namespace) is left on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from typing import Any


def in_ns(ns: str, *cmd: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=30).stdout


def get(url: str) -> str:
    """The body of a GET from the test process ("" when it fails)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode()).strip()
    except OSError:
        return ""


def get_from(h: Any, url: str) -> str:
    """The body of a GET from inside host `h`'s namespace ("" when it fails)."""
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).read().decode().strip())"
    return in_ns(h.netns, sys.executable, "-c", code).strip()


def running(c: Any, h: Any, service: str) -> list[dict[str, Any]]:
    """The service's containers that run on host `h`, from its own engine."""
    return [
        ctr
        for ctr in c.running_containers(h)
        if ctr.get("labels", {}).get("svc.service.name") == service and ctr.get("state") == "running"
    ]


def mesh_left(h: Any) -> list[str]:
    """What of the routing mesh or of any overlay network is still on host `h`."""
    left = []
    if "svc_ingress" in in_ns(h.netns, "nft", "list", "tables"):
        left.append("nft table")
    if "svcing0" in in_ns(h.netns, "ip", "-o", "link"):
        left.append("veth svcing0")
    if "SVC-svcing0" in in_ns(h.netns, "iptables", "-w", "-S"):
        left.append("iptables chain SVC-svcing0")
    netns_dir = os.path.join(h.run_dir, "engine", "netns")
    if os.path.isdir(netns_dir):
        left += [n for n in os.listdir(netns_dir) if n.startswith("ov-")]
    return left
