"""Docker's `--mount` and `-v` syntax, parsed into ContainerSpec.Mount, and the checks a mount needs
without a host (pure; shared by the CLI, the managers' spec validation and the engine).

The rule: what is accepted here is what the engine runs; host facts (does a bind's source exist, is
it inside svc's own dirs) are the engine's to check (node/engine/volumes.py).
"""

from __future__ import annotations

import posixpath
import re

from svc.errors import InvalidArgument
from svc.units import parse_size
from svc.v1 import container_pb2 as pb

TYPES = ("volume", "bind", "tmpfs")
# Docker's volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (two characters at least).
_VOLUME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,254}$")
_KEYS = {
    "type": "type",
    "source": "source",
    "src": "source",
    "target": "target",
    "destination": "target",
    "dst": "target",
    "readonly": "readonly",
    "ro": "readonly",
    "volume-label": "volume-label",
    "tmpfs-size": "tmpfs-size",
    "tmpfs-mode": "tmpfs-mode",
}
_TRUE, _FALSE = ("", "1", "true"), ("0", "false")


def _bad(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid mount {text!r}: {why}")


def parse_mount(text: str) -> pb.Mount:
    """`type=volume,source=NAME,target=/data[,readonly][,volume-label=k=v]`, `type=bind,source=/h,target=/x`,
    `type=tmpfs,target=/tmp[,tmpfs-size=64m][,tmpfs-mode=1777]`; type defaults to volume, as docker's."""
    m = pb.Mount(type="volume")
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key not in _KEYS:
            raise _bad(text, f"unknown key {key!r} (use {', '.join(sorted(set(_KEYS.values())))})")
        field = _KEYS[key]
        if field == "readonly":
            if value.lower() not in _TRUE + _FALSE:
                raise _bad(text, f"readonly={value!r}: use true or false")
            m.read_only = value.lower() in _TRUE
        elif not sep:
            raise _bad(text, f"{key} needs a value ({key}=...)")
        elif field == "type":
            m.type = value
        elif field == "source":
            m.source = value
        elif field == "target":
            m.target = value
        elif field == "volume-label":
            k, eq, v = value.partition("=")
            if not k:
                raise _bad(text, "volume-label needs KEY=VALUE")
            m.volume_labels[k] = v if eq else ""
        elif field == "tmpfs-size":
            m.tmpfs_size_bytes = parse_size(value, "tmpfs-size")
        elif field == "tmpfs-mode":
            try:
                m.tmpfs_mode = int(value, 8)
            except ValueError:
                raise _bad(text, f"tmpfs-mode {value!r} is not an octal mode such as 1777") from None
    validate_mount(m, text)
    return m


def parse_volume_flag(text: str) -> pb.Mount:
    """`-v NAME:/data[:ro]` (a named volume) or `-v /host:/x[:ro|rw]` (a bind mount)."""
    parts = text.split(":")
    mode = ""
    if len(parts) == 3:
        mode = parts.pop()
    if len(parts) != 2 or mode not in ("", "ro", "rw"):
        raise InvalidArgument(f"invalid volume {text!r}: use NAME:/path[:ro] or /host/path:/path[:ro]")
    source, target = parts
    kind = "bind" if source.startswith("/") else "volume"
    m = pb.Mount(type=kind, source=source, target=target, read_only=mode == "ro")
    validate_mount(m, text)
    return m


def validate_mount(m: pb.Mount, text: str = "") -> None:
    """One mount on its own: InvalidArgument naming it."""
    shown = text or f"type={m.type},source={m.source},target={m.target}"
    if m.type not in TYPES:
        raise _bad(shown, f"type {m.type!r}: use volume, bind or tmpfs")
    if not m.target:
        raise _bad(shown, "target is missing (target=/path)")
    if not m.target.startswith("/"):
        raise _bad(shown, f"target {m.target!r} must be an absolute path")
    if posixpath.normpath(m.target) == "/":
        raise _bad(shown, "the target must not be /")
    if "\0" in m.target or "\0" in m.source:
        raise _bad(shown, "paths must not contain NUL")
    if m.type == "volume":
        if not _VOLUME_RE.match(m.source):
            raise _bad(shown, f"volume name {m.source!r}: use 2 or more letters, digits, '_', '.', '-'")
    elif m.volume_labels:
        raise _bad(shown, "volume-label is only for type=volume")
    if m.type == "bind" and not m.source.startswith("/"):
        raise _bad(shown, f"bind source {m.source!r} must be an absolute path")
    if m.type == "tmpfs":
        if m.source:
            raise _bad(shown, "a tmpfs has no source")
        if m.read_only:
            raise _bad(shown, "a tmpfs cannot be readonly")
        if m.tmpfs_size_bytes < 0 or m.tmpfs_mode > 0o7777:
            raise _bad(shown, "tmpfs-size must be positive, tmpfs-mode at most 7777")
    elif m.tmpfs_size_bytes or m.tmpfs_mode:
        raise _bad(shown, "tmpfs-size and tmpfs-mode are only for type=tmpfs")


def validate_mounts(mounts: list[pb.Mount]) -> None:
    """Each mount, and no two at one target."""
    seen: set[str] = set()
    for m in mounts:
        validate_mount(m)
        target = posixpath.normpath(m.target)
        if target in seen:
            raise InvalidArgument(f"two mounts at {target}: give each target once")
        seen.add(target)


def update_mounts(mounts: list[pb.Mount], add: list[str], remove: list[str]) -> list[pb.Mount]:
    """`svc update --mount-rm TARGET --mount-add SPEC`: a removed target must be there; an added mount
    replaces one at its target (docker's rule)."""
    wanted = {posixpath.normpath(t) for t in remove}
    have = {posixpath.normpath(m.target) for m in mounts}
    for t in sorted(wanted - have):
        raise InvalidArgument(f"--mount-rm {t}: the service has no mount at {t}")
    added = [parse_mount(a) for a in add]
    gone = wanted | {posixpath.normpath(a.target) for a in added}
    out = [m for m in mounts if posixpath.normpath(m.target) not in gone] + added
    validate_mounts(out)
    return out
