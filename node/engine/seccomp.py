"""The seccomp filter a container runs under, as the OCI config's `linux.seccomp` section.

Every container gets Docker's default profile (`seccomp_default.json`, shipped with this package)
unless its spec says `unconfined` or carries its own profile (Docker's format, checked by
svc/seccompprofile.py). A profile's rules are conditional, and `to_oci` keeps, as moby does, those
that apply here: `includes` needs every listed capability in the container's bounding set, this
host's architecture among `arches` and a kernel at least `minKernel`; `excludes` drops a rule when
any listed capability is held, the architecture is listed or the kernel is that new. The filter
covers the native architecture and its compat ones (x86_64: also x86 and x32; aarch64: also arm).
Anything not allowed fails with EPERM. The runtime (runc, crun) compiles the section with libseccomp.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from svc import seccompprofile
from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_PROFILE_FILE = "seccomp_default.json"

# uname's machine -> Go's GOARCH name, which profiles' `arches` conditions use (as moby's do).
_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
    "loongarch64": "loong64",
}
# Go's name -> the libseccomp architecture an archMap entry is keyed by.
SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64",
    "x86": "SCMP_ARCH_X86",
    "x32": "SCMP_ARCH_X32",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "ppc64": "SCMP_ARCH_PPC64",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}


@dataclass(frozen=True)
class Host:
    arch: str  # Go's name: amd64, arm64, ...
    kernel: tuple[int, int]  # (major, minor) of the running kernel


def parse_release(release: str) -> tuple[int, int]:
    """`6.1.0-18-amd64` -> (6, 1): moby compares the kernel and major revision only."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m[1]), int(m[2])) if m else (0, 0)


@functools.cache
def this_host() -> Host:
    machine = platform.machine().lower()
    return Host(arch=_GO_ARCH.get(machine, machine), kernel=parse_release(os.uname().release))


@functools.cache
def kernel_has_seccomp() -> bool:
    """The kernel can filter syscalls: /proc/self/status has a Seccomp line (CONFIG_SECCOMP)."""
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


@functools.cache
def default_profile() -> dict[str, Any]:
    """Docker's default profile, from this package's data (parsed and checked once)."""
    text = importlib.resources.files(__package__).joinpath(DEFAULT_PROFILE_FILE).read_text()
    return seccompprofile.parse_profile(text, DEFAULT_PROFILE_FILE)


def _applies(rule: dict[str, Any], caps: frozenset[str], host: Host) -> bool:
    inc = rule.get("includes") or {}
    if inc.get("arches") and host.arch not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("minKernel") and host.kernel < seccompprofile.parse_kernel(inc["minKernel"]):
        return False
    exc = rule.get("excludes") or {}
    if exc.get("arches") and host.arch in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    return not (exc.get("minKernel") and host.kernel >= seccompprofile.parse_kernel(exc["minKernel"]))


def _architectures(profile: dict[str, Any], host: Host) -> list[str]:
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = SCMP_ARCH.get(host.arch)
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            return [native, *(entry.get("subArchitectures") or [])]
    return []  # the runtime filters the native architecture only


def _syscall(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "names": [rule["name"]] if "name" in rule else list(rule["names"]),
        "action": rule["action"],
    }
    if "errnoRet" in rule:
        out["errnoRet"] = rule["errnoRet"]
    if rule.get("args"):
        out["args"] = [
            {
                "index": a["index"],
                "value": a.get("value", 0),
                **({"valueTwo": a["valueTwo"]} if "valueTwo" in a else {}),
                "op": a["op"],
            }
            for a in rule["args"]
        ]
    return out


def to_oci(profile: dict[str, Any], capabilities: Iterable[str], host: Host) -> dict[str, Any]:
    """The OCI `linux.seccomp` section of a (checked) profile for this container on this host."""
    caps = frozenset(capabilities)
    section: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        section["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = _architectures(profile, host)
    if arches:
        section["architectures"] = arches
    if profile.get("flags"):
        section["flags"] = list(profile["flags"])
    section["syscalls"] = [_syscall(r) for r in profile.get("syscalls") or [] if _applies(r, caps, host)]
    return section


def for_container(
    cfg: pb.SeccompConfig, capabilities: Iterable[str], host: Host | None = None
) -> dict[str, Any] | None:
    """The section for a container's spec and capabilities; None = no filter (unconfined)."""
    seccompprofile.validate(cfg)
    if cfg.mode == seccompprofile.UNCONFINED:
        return None
    if not kernel_has_seccomp():
        if cfg.mode == "custom":
            raise InvalidArgument("seccomp is not enabled in this kernel: cannot run a custom seccomp profile")
        return None  # the engine said so when it started (describe)
    profile = seccompprofile.parse_profile(cfg.profile) if cfg.mode == "custom" else default_profile()
    return to_oci(profile, capabilities, host or this_host())


def describe(host: Host | None = None) -> str:
    """One line for the engine's log: what containers run under by default here."""
    if not kernel_has_seccomp():
        return "seccomp: not enabled in this kernel; containers run without Docker's default profile"
    host = host or this_host()
    profile = default_profile()
    arches = _architectures(profile, host) or [f"native ({host.arch})"]
    return (
        f"seccomp: Docker's default profile ({len(profile.get('syscalls') or [])} rules, default "
        f"{profile['defaultAction']}) for {', '.join(arches)}; opt out with --security-opt seccomp=unconfined"
    )
