"""Resolve a tag to the manifest digest it names now (what a service pins, as Swarm does).

One manifest request to the registry itself (never a mirror: a mirror may lag the tag), with the
same auth flow as a pull. The digest is the top manifest's: an index stays an index, and each node
picks its own platform from it when it pulls.
"""

from __future__ import annotations

from svc import registryref as refs
from svc.registry.client import Endpoint
from svc.registry.settings import RegistrySettings


def pin(image: str, settings: RegistrySettings, creds: tuple[str, str] | None = None, timeout: float = 10.0) -> str:
    """`NAME:TAG@sha256:…` for `image` (unchanged if it pins a digest already); SvcError on failure."""
    ref = refs.parse(image)
    if ref.digest:
        return image
    host = ref.api_host()
    with Endpoint(
        settings.base_url(host), host, settings.config_files, timeout=timeout, creds=creds, verify=settings.tls(host)
    ) as ep:
        _, _, digest = ep.manifest(ref.repository, ref.tag)
    return f"{ref.name}:{ref.tag}@{digest}"
