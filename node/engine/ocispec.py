"""Build an OCI runtime config.json with Docker's defaults (pure; unit-tested).

Isolation: new pid, mount, uts and ipc namespaces, and a network namespace prepared by
the engine (absent for host networking). Docker's default capabilities, masked and
read-only /proc and /sys paths, a minimal /dev, no-new-privileges, and cgroup limits; the seccomp
filter (seccomp.py: Docker's default profile unless the spec opts out) and an AppArmor profile where
the host has one (apparmor.py).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from typing import Any

MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
CPU_PERIOD_US = 100_000
INIT_TARGET = "/sbin/docker-init"  # where --init's binary is mounted (Docker's path)

# Docker's default device cgroup rules: deny all, then allow the usual character devices.
_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))
    ),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
    {"allow": False, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # no tun
]


@dataclass
class Bundle:
    args: list[str]
    env: list[str]
    cwd: str
    uid: int
    gid: int
    additional_gids: list[int]
    hostname: str
    rootfs: str
    read_only: bool
    capabilities: list[str]
    cgroups_path: str
    netns_path: str | None  # None = share the host's network namespace
    memory_bytes: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    mounts: list[dict[str, Any]] = field(default_factory=list)  # the spec's volumes, binds, tmpfs (volumes.py)
    binds: list[tuple[str, str, bool]] = field(default_factory=list)  # (source, destination, read_only)
    nofile: int = field(default_factory=lambda: default_nofile())
    seccomp: dict[str, Any] | None = None  # the OCI linux.seccomp section; None = no filter
    apparmor_profile: str = ""  # "" = none (the host has no AppArmor or no profile loaded)
    sysctls: dict[str, str] = field(default_factory=dict)  # namespaced only (svc/kernelopts.py checked them)
    ulimits: list[tuple[str, int, int]] = field(default_factory=list)  # (name, soft, hard), -1 = unlimited
    init_path: str = ""  # the host's init binary (initbin.py): mounted at /sbin/docker-init, runs the args


def default_nofile() -> int:
    """Docker's 1048576 open files, capped by what this daemon may grant (a sandbox may allow less)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)


def _rlimits(b: Bundle) -> list[dict[str, Any]]:
    """Docker's default open files, then the spec's ulimits over it (-1: RLIM_INFINITY)."""
    limits = {"nofile": (b.nofile, b.nofile)}
    limits.update({name: (soft, hard) for name, soft, hard in b.ulimits})
    unlimited = 2**64 - 1
    return [
        {
            "type": f"RLIMIT_{name.upper()}",
            "hard": unlimited if hard < 0 else hard,
            "soft": unlimited if soft < 0 else soft,
        }
        for name, (soft, hard) in limits.items()
    ]


def _mounts(b: Bundle) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        },
    ]
    mounts += b.mounts  # before the /etc files and secrets: a volume at /etc still gets /etc/hosts
    for source, dest, ro in b.binds:
        opts = ["rbind", "rprivate"] + (["ro"] if ro else [])
        mounts.append({"destination": dest, "type": "bind", "source": source, "options": opts})
    if b.init_path:
        mounts.append({"destination": INIT_TARGET, "type": "bind", "source": b.init_path, "options": ["rbind", "ro"]})
    return mounts


def _resources(b: Bundle) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": _DEVICE_RULES}
    if b.memory_bytes:
        res["memory"] = {"limit": b.memory_bytes}
    if b.nano_cpus:
        res["cpu"] = {"quota": max(1000, b.nano_cpus * CPU_PERIOD_US // 1_000_000_000), "period": CPU_PERIOD_US}
    if b.pids_limit:
        res["pids"] = {"limit": b.pids_limit}
    return res


def build_config(b: Bundle) -> dict[str, Any]:
    namespaces: list[dict[str, Any]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if b.netns_path is not None:
        namespaces.append({"type": "network", "path": b.netns_path})
    caps = list(b.capabilities)
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": b.uid, "gid": b.gid, "additionalGids": b.additional_gids},
            "args": [INIT_TARGET, "--", *b.args] if b.init_path else b.args,
            "env": b.env,
            "cwd": b.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": _rlimits(b),
            "noNewPrivileges": True,
        },
        "root": {"path": b.rootfs, "readonly": b.read_only},
        "hostname": b.hostname,
        "mounts": _mounts(b),
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": b.cgroups_path,
            "resources": _resources(b),
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if b.sysctls:
        config["linux"]["sysctl"] = dict(b.sysctls)
    if b.seccomp is not None:
        config["linux"]["seccomp"] = b.seccomp
    if b.apparmor_profile:
        config["process"]["apparmorProfile"] = b.apparmor_profile
    return config


def exec_process(
    args: list[str],
    env: list[str],
    cwd: str,
    uid: int,
    gid: int,
    caps: list[str],
    rlimits: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The process spec `runc exec --process` takes: same user, caps, rlimits and rules as the container."""
    process: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": True,
    }
    if rlimits:
        process["rlimits"] = rlimits
    return process
