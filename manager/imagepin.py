"""Pin a service's image to the digest its tag names, once, on the leader (Swarm's rule).

Every replica then runs the same bytes, whenever and wherever it starts, and the nodes pull by
digest. A lookup happens when a create or an update brings an image that pins no digest, unless:
the caller said `--no-resolve-image`; or a node of the cluster holds an image by that name (one
imported with `svc image import` is the cluster's own: asking Docker Hub about it would be wrong
and would leak its name). A failed lookup is a warning, not an error, as in docker's CLI: the spec
keeps the tag and each node pulls the tag itself.

The cluster's own image (air-gapped clusters): when some node holds the tag but not every node that
could run a task does, the image is pinned to the digest a holder reports (`NAME:TAG@sha256:…`, see
node/engine/heldrefs.py; the digest most holders report if they differ), without asking any
registry, so every other node fetches those bytes from a holder's peer server. When every
schedulable node holds the tag, it stays a tag: each node runs its own copy, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from svc import defaults, reference, registryref
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


@dataclass(frozen=True)
class Holding:
    """What one node reports it holds, and whether it could take a task now (ready, active, an engine)."""

    refs: frozenset[str]
    schedulable: bool = True


def held_digest(image: str, nodes: Sequence[Holding]) -> Pinned | None:
    """The pin from the nodes' own copies (pure): None unless some node holds `image` by tag with a
    digest and some schedulable node does not hold the tag at all."""
    if "@" in image:
        return None
    try:
        want = registryref.parse(image).tagged()
        name = reference.normalize(image)
    except SvcError:
        return None
    if all(name in {_normal(r) for r in n.refs} for n in nodes if n.schedulable):
        return None
    votes: Counter[str] = Counter()
    for n in nodes:
        for ref in n.refs:
            head, _, digest = ref.partition("@")
            if digest and ":" in head.rpartition("/")[2] and _tagged(head) == want:
                votes[digest] += 1
    if not votes:
        return None
    digest, count = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    warning = ""
    if len(votes) > 1:
        warning = (
            f"nodes hold {len(votes)} different images as {want}; pinned {digest}, "
            f"held by {count} of {sum(votes.values())} of them"
        )
    return Pinned(f"{want}@{digest}", warning)


def _tagged(ref: str) -> str:
    try:
        return registryref.parse(ref).tagged()
    except SvcError:
        return ""


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

    async def pin(
        self,
        image: str,
        nodes: Sequence[Holding],
        creds: tuple[str, str] | None = None,
        lookup: bool = True,
    ) -> Pinned:
        local = held_digest(image, nodes)
        if local is not None:
            log.info("image %s pinned as %s, from the nodes that hold it", image, local.image)
            if local.warning:
                log.warning("%s", local.warning)
            return local
        if not lookup or not needs_lookup(image, (r for n in nodes for r in n.refs)):
            return Pinned(image)
        try:
            config = settings.load(self.settings_path, self.flags)
            pinned = await asyncio.to_thread(resolve.pin, image, config, creds, self.timeout)
        except SvcError as exc:
            warning = (
                f"image {image} could not be accessed on a registry to record its digest ({exc}), "
                "and no node holds it; each node will access it independently, possibly running different versions"
            )
            log.warning("%s", warning)
            return Pinned(image, warning)
        log.info("image %s pinned as %s", image, pinned)
        return Pinned(pinned)
