"""Platforms: this host's, and the choice of a manifest from an index.

The host's architecture is its userland's, not the kernel's: a 32-bit Raspberry Pi OS on a 64-bit kernel
reports `aarch64` from `uname -m` but runs arm binaries, so a 4-byte pointer on an arm machine means arm.
"""

from __future__ import annotations

import platform as _platform
import struct
from dataclasses import dataclass
from typing import Any

from svc.errors import InvalidArgument, NotFound

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
    "386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return out + (f"/{self.variant}" if self.variant else "")


def normalize(os_: str, arch: str, variant: str = "") -> Platform:
    """Docker's spellings: aarch64 = arm64 (variant v8 implied), armhf = arm/v7, armel = arm/v6."""
    arch_l = arch.lower()
    variant = variant.lower()
    if arch_l in ("armhf", "armv7l", "armv7"):
        return Platform(os_ or "linux", "arm", variant or "v7")
    if arch_l in ("armel", "armv6l", "armv6"):
        return Platform(os_ or "linux", "arm", variant or "v6")
    if arch_l in ("armv5", "armv5l", "armv5tel"):
        return Platform(os_ or "linux", "arm", variant or "v5")
    norm = _ARCH_ALIASES.get(arch_l, arch_l)
    if norm == "arm64" and variant == "v8":
        variant = ""
    return Platform(os_ or "linux", norm, variant)


def parse(text: str) -> Platform:
    """`os/arch[/variant]` as `--platform` takes it."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: use OS/ARCH[/VARIANT], e.g. linux/arm/v7")
    return normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host_platform(machine: str | None = None, pointer_bytes: int | None = None) -> Platform:
    machine = (machine or _platform.machine()).lower()
    pointer_bytes = pointer_bytes or struct.calcsize("P")
    if machine in ("aarch64", "arm64", "armv8l") and pointer_bytes == 4:
        return Platform("linux", "arm", "v7")  # 32-bit userland on a 64-bit kernel
    if machine in ("x86_64", "amd64") and pointer_bytes == 4:
        return Platform("linux", "386")
    if machine.startswith("armv6"):
        return Platform("linux", "arm", "v6")
    if machine.startswith("armv7") or machine == "armv8l":
        return Platform("linux", "arm", "v7")
    return normalize("linux", machine)


def acceptable(want: Platform) -> list[tuple[str, str]]:
    """(architecture, variant) pairs this platform runs, best first; '' variant = unspecified."""
    if want.architecture == "arm64":
        return [("arm64", ""), ("arm64", "v8"), ("arm", "v8"), ("arm", "v7"), ("arm", "v6"), ("arm", "v5")]
    if want.architecture == "arm":
        order = ["v8", "v7", "v6", "v5"]
        start = order.index(want.variant) if want.variant in order else order.index("v7")
        return [("arm", v) for v in order[start:]] + ([("arm", "")] if want.variant != "v5" else [])
    if want.architecture == "amd64":
        return [("amd64", ""), ("amd64", "v1"), ("amd64", "v2"), ("amd64", "v3"), ("386", "")]
    return [(want.architecture, want.variant), (want.architecture, "")]


def describe(entry: dict[str, Any]) -> str:
    p = entry.get("platform") or {}
    if not isinstance(p, dict):
        return "?"
    return str(normalize(str(p.get("os") or "?"), str(p.get("architecture") or "?"), str(p.get("variant") or "")))


def choose(manifests: list[Any], want: Platform, what: str = "the index") -> dict[str, Any]:
    """The index entry for `want`, best match first; NotFound naming the platforms the index has."""
    prefs = acceptable(want)
    best: tuple[int, dict[str, Any]] | None = None
    for entry in manifests:
        if not isinstance(entry, dict):
            continue
        p = entry.get("platform") or {}
        if not isinstance(p, dict) or (p.get("os") or "linux") != want.os:
            continue
        got = normalize(want.os, str(p.get("architecture") or ""), str(p.get("variant") or ""))
        key = (got.architecture, got.variant)
        if key in prefs and (best is None or prefs.index(key) < best[0]):
            best = (prefs.index(key), entry)
    if best is None:
        have = sorted({describe(e) for e in manifests if isinstance(e, dict) and e.get("platform")})
        raise NotFound(f"{what} has no manifest for {want} (it has: {', '.join(have) or 'no platforms'})")
    return best[1]
