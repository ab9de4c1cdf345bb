"""The parts of an OCI/Docker image config that decide how a container runs."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from typing import Any

from svc.errors import InvalidArgument

_NS = 1e-9


@dataclass(frozen=True)
class ImageHealthcheck:
    test: tuple[str, ...] = ()
    interval: float = 0.0
    timeout: float = 0.0
    retries: int = 0
    start_period: float = 0.0


@dataclass(frozen=True)
class ImageConfig:
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    healthcheck: ImageHealthcheck | None = None
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    diff_ids: tuple[str, ...] = ()
    architecture: str = ""
    os: str = ""
    created: float = 0.0


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"image config: {what} must be a list of strings")
    return tuple(value)


def _created(value: Any) -> float:
    if not isinstance(value, str) or not value:
        return 0.0
    text = value.rstrip("Z").split(".")[0]
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except ValueError:
        return 0.0


def parse_image_config(raw: bytes) -> ImageConfig:
    """Parse config JSON bytes; raises InvalidArgument naming what is wrong."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"image config is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument("image config is not a JSON object")
    cfg = doc.get("config") or {}
    rootfs = doc.get("rootfs") or {}
    if not isinstance(cfg, dict) or not isinstance(rootfs, dict):
        raise InvalidArgument("image config: 'config' and 'rootfs' must be objects")
    diff_ids = _strings(rootfs.get("diff_ids"), "rootfs.diff_ids")
    for d in diff_ids:
        if not d.startswith("sha256:") or len(d) != 71:
            raise InvalidArgument(f"image config: bad diff id {d!r}")
    hc = cfg.get("Healthcheck")
    health = None
    if isinstance(hc, dict) and hc.get("Test"):
        health = ImageHealthcheck(
            test=_strings(hc.get("Test"), "Healthcheck.Test"),
            interval=float(hc.get("Interval") or 0) * _NS,
            timeout=float(hc.get("Timeout") or 0) * _NS,
            retries=int(hc.get("Retries") or 0),
            start_period=float(hc.get("StartPeriod") or 0) * _NS,
        )
    labels = cfg.get("Labels") or {}
    if not isinstance(labels, dict):
        raise InvalidArgument("image config: Labels must be an object")
    return ImageConfig(
        env=_strings(cfg.get("Env"), "Env"),
        entrypoint=_strings(cfg.get("Entrypoint"), "Entrypoint"),
        cmd=_strings(cfg.get("Cmd"), "Cmd"),
        workdir=str(cfg.get("WorkingDir") or ""),
        user=str(cfg.get("User") or ""),
        exposed_ports=tuple(sorted((cfg.get("ExposedPorts") or {}).keys())),
        healthcheck=health,
        stop_signal=str(cfg.get("StopSignal") or ""),
        labels={str(k): str(v) for k, v in labels.items()},
        diff_ids=diff_ids,
        architecture=str(doc.get("architecture") or ""),
        os=str(doc.get("os") or ""),
        created=_created(doc.get("created")),
    )


def host_architecture() -> str:
    """The OCI architecture name of this host's userland (a 32-bit userland on a 64-bit Pi says arm)."""
    import struct

    machine = platform.machine().lower()
    bits = struct.calcsize("P") * 8
    if machine in ("x86_64", "amd64"):
        return "amd64" if bits == 64 else "386"
    if machine in ("aarch64", "arm64"):
        return "arm64" if bits == 64 else "arm"
    if machine.startswith("arm"):
        return "arm"
    return machine


def rootfs_image_config(diff_id: str) -> bytes:
    """The config for an image imported from a plain root filesystem tarball (`docker import`)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc = {
        "architecture": host_architecture(),
        "os": "linux",
        "created": now,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "comment": "imported from a root filesystem tarball"}],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
