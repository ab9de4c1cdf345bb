"""Registry references as users type them, normalised as Docker does.

`busybox` is `docker.io/library/busybox:latest`; the first path part names a registry host only if it
holds `.` or `:` or is `localhost`; `NAME@sha256:<hex>` pins a manifest digest (a tag may come with it).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from svc.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_HOST = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


# Immutable; a NamedTuple rather than a frozen dataclass: every CLI command imports this module, and
# dataclasses (with inspect) would cost it ~8 ms.
class Reference(NamedTuple):
    registry: str  # docker.io, 127.0.0.1:5000, ...
    repository: str  # library/busybox, team/app
    tag: str = ""  # empty when pinned by digest only
    digest: str = ""  # sha256:<hex> or empty

    @property
    def name(self) -> str:
        """The familiar name: `busybox`, `team/app` on Docker Hub, `host:5000/app` elsewhere."""
        if self.registry == DOCKER_HUB:
            repo = self.repository
            return repo[len("library/") :] if repo.startswith("library/") else f"{DOCKER_HUB}/{repo}"
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def tagged(self) -> str:
        """`NAME:TAG` as the image store keeps tags (empty when pulled by digest only)."""
        return f"{self.name}:{self.tag}" if self.tag else ""

    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry


def parse(text: str) -> Reference:
    """Parse `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`; InvalidArgument, naming the reference, if malformed."""
    if not text or len(text) > 512 or text != text.strip():
        raise InvalidArgument(f"invalid image reference {text!r}")
    rest, digest = text, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidArgument(f"invalid image reference {text!r}: bad digest {digest!r} (want sha256:<64 hex>)")
    tag = ""
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid image reference {text!r}: bad tag {tag!r}")
    parts = rest.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, parts[1:]
        if not _HOST.match(registry):
            raise InvalidArgument(f"invalid image reference {text!r}: bad registry host {registry!r}")
    else:
        registry, path = DOCKER_HUB, parts
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if not path or not all(_COMPONENT.match(p) for p in path):
        raise InvalidArgument(
            f"invalid image reference {text!r}: repository names are lowercase letters, digits and . _ - /"
        )
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    if not tag and not digest:
        tag = "latest"
    return Reference(registry=registry, repository="/".join(path), tag=tag, digest=digest)


def login_host(server: str) -> str:
    """The registry host of a `svc login` argument: `host[:port]`, a URL, or empty for Docker Hub."""
    text = server.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if not text or text in ("index.docker.io", "registry-1.docker.io", DOCKER_HUB):
        return DOCKER_HUB
    if not _HOST.match(text):
        raise InvalidArgument(f"invalid registry {server!r}: give HOST[:PORT]")
    return text
