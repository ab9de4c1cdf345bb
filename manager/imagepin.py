"""Pin a service's image to the digest its tag names, once, on the leader (Swarm's rule).

Every replica then runs the same bytes, whenever and wherever it starts, and the nodes pull by
digest. A lookup happens when a create or an update brings an image that pins no digest, unless:
the caller said `--no-resolve-image`; or a node of the cluster holds an image by that name (one
imported with `svc image import` is the cluster's own: asking Docker Hub about it would be wrong
and would leak its name). A failed lookup is a warning, not an error, as in docker's CLI: the spec
keeps the tag and each node pulls the tag itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from svc import defaults, reference
from svc.errors import SvcError
from svc.registry import resolve, settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pinned:
    image: str
    warning: str = ""


def needs_lookup(image: str, held: Iterable[str]) -> bool:
    """Whether `image` should be resolved against its registry (pure)."""
    if "@" in image:
        return False
    try:
        name = reference.normalize(image)
    except SvcError:
        return False  # validation names the problem
    return name not in {_normal(h) for h in held}


def _normal(ref: str) -> str:
    try:
        return reference.normalize(ref)
    except SvcError:
        return ref


class ImagePinner:
    """Registry lookups with the manager's settings (`<manager dir>/registries.json`, read at each lookup,
    after svcd's `--insecure-registry` / `--registry-mirror`)."""

    def __init__(
        self,
        data_dir: str,
        insecure: Iterable[str] = (),
        mirrors: Iterable[str] = (),
        timeout: float = defaults.IMAGE_RESOLVE_TIMEOUT_SECONDS,
    ) -> None:
        self.settings_path = settings.settings_path(data_dir)
        self.flags = settings.RegistrySettings(insecure=tuple(insecure), mirrors=tuple(mirrors))
        self.timeout = timeout

    async def pin(self, image: str, held: Iterable[str], creds: tuple[str, str] | None = None) -> Pinned:
        if not needs_lookup(image, held):
            return Pinned(image)
        try:
            config = settings.load(self.settings_path, self.flags)
            pinned = await asyncio.to_thread(resolve.pin, image, config, creds, self.timeout)
        except SvcError as exc:
            warning = (
                f"image {image} could not be accessed on a registry to record its digest ({exc}); "
                "each node will access it independently, possibly running different versions"
            )
            log.warning("%s", warning)
            return Pinned(image, warning)
        log.info("image %s pinned as %s", image, pinned)
        return Pinned(pinned)
