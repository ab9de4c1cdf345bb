"""Image references as users type them: `busybox`, `busybox:1.36`, `registry:5000/team/app:v2`."""

from __future__ import annotations

import re

from svc import registryref
from svc.errors import InvalidArgument

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)"
_NAME_RE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_HEX_RE = re.compile(r"^[0-9a-f]{1,64}$")


def normalize(ref: str) -> str:
    """`NAME[:TAG]` with the tag defaulted to `latest`; InvalidArgument if malformed."""
    if not ref or len(ref) > 255:
        raise InvalidArgument(f"invalid image reference {ref!r}")
    name, tag = ref, "latest"
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :]
    if name.startswith("docker.io/library/"):
        name = name[len("docker.io/library/") :]
    if not _NAME_RE.match(name):
        raise InvalidArgument(f"invalid image reference {ref!r}: names are lowercase letters, digits and . _ - /")
    if not _TAG_RE.match(tag):
        raise InvalidArgument(f"invalid image reference {ref!r}: bad tag {tag!r}")
    return f"{name}:{tag}"


def looks_like_id(ref: str) -> bool:
    """True for `sha256:<hex>` or a bare hex prefix of at least 4 characters."""
    if ref.startswith("sha256:"):
        ref = ref[7:]
    return len(ref) >= 4 and bool(_HEX_RE.match(ref))


def repo_digest(ref: str) -> str:
    """`NAME@sha256:…` of a reference that pins a digest, NAME as a pull records it ('' if none)."""
    if "@" not in ref:
        return ""
    r = registryref.parse(ref)
    return f"{r.name}@{r.digest}"


def check(ref: str) -> None:
    """InvalidArgument unless `ref` is `NAME[:TAG]` or `NAME[:TAG]@sha256:<64 hex>`."""
    if "@" in ref:
        registryref.parse(ref)
    else:
        normalize(ref)


def familiar(ref: str) -> str:
    """`NAME:TAG` of a reference, without the digest a service pins (what `svc ls` shows, as docker)."""
    if "@" not in ref:
        return ref
    head = ref.split("@", 1)[0]
    return head if head.rfind(":") > head.rfind("/") else ref
