"""Where a container's cgroup is, and what it says: cgroup v1, v2 and hybrid hosts.

The runtime creates and removes the cgroups (cgroupfs driver, path `/<parent>/<id>`);
this module only finds and reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"


def mode() -> str:
    """`v2` (unified), `hybrid` (v1 controllers plus a v2 mount) or `v1`."""
    if os.path.exists(os.path.join(ROOT, "cgroup.controllers")):
        return "v2"
    if os.path.exists(os.path.join(ROOT, "unified", "cgroup.controllers")):
        return "hybrid"
    return "v1"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError, OSError):
        return ""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _kv(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        out[key] = _int(value)
    return out


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    memory_bytes: int
    memory_limit_bytes: int
    pids: int
    oom_kills: int


class Cgroup:
    """One container's cgroup, named by its cgroupsPath (e.g. `/svc/<id>`)."""

    def __init__(self, path: str, cgroup_mode: str | None = None) -> None:
        self.path = path.strip("/")
        self.mode = cgroup_mode or mode()

    def _v1(self, controller: str, name: str) -> str:
        return os.path.join(ROOT, controller, self.path, name)

    def _v2(self, name: str) -> str:
        return os.path.join(ROOT, self.path, name)

    def paths(self) -> list[str]:
        """Every directory this cgroup may occupy (for checking that removal left nothing)."""
        if self.mode == "v2":
            return [os.path.join(ROOT, self.path)]
        dirs = []
        for entry in os.listdir(ROOT):
            candidate = os.path.join(ROOT, entry, self.path)
            dirs.append(candidate)
        return dirs

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths())

    def usage(self) -> Usage:
        if self.mode == "v2":
            cpu = _kv(_read(self._v2("cpu.stat"))).get("usage_usec", 0) / 1e6
            mem = _int(_read(self._v2("memory.current")))
            stat = _kv(_read(self._v2("memory.stat")))
            mem = max(0, mem - stat.get("inactive_file", 0))
            limit_text = _read(self._v2("memory.max"))
            limit = 0 if limit_text in ("", "max") else _int(limit_text)
            pids = _int(_read(self._v2("pids.current")))
            ooms = _kv(_read(self._v2("memory.events"))).get("oom_kill", 0)
        else:
            cpu = _int(_read(self._v1("cpuacct", "cpuacct.usage"))) / 1e9
            mem = _int(_read(self._v1("memory", "memory.usage_in_bytes")))
            stat = _kv(_read(self._v1("memory", "memory.stat")))
            mem = max(0, mem - stat.get("total_inactive_file", 0))
            limit = _int(_read(self._v1("memory", "memory.limit_in_bytes")))
            if limit >= 1 << 62:  # v1 says "no limit" with a huge number
                limit = 0
            pids = _int(_read(self._v1("pids", "pids.current")))
            ooms = _kv(_read(self._v1("memory", "memory.oom_control"))).get("oom_kill", 0)
        return Usage(cpu_seconds=cpu, memory_bytes=mem, memory_limit_bytes=limit, pids=pids, oom_kills=ooms)
