"""What a node reports it holds: the references the managers place and pin by (pure).

Rule: every tag (`NAME:TAG`), every repo digest (`NAME@sha256:…`, what peers fetch it by) and the
image id; and, for a tag whose repository the image also has a digest for, `NAME:TAG@sha256:…`: the
tag with the digest this node serves it by. The leader pins a service to that form when the image is
the cluster's own (imported on some nodes only, no registry), so every node can fetch it from a peer.
"""

from __future__ import annotations

from collections.abc import Iterable

from svc import registryref
from svc.errors import InvalidArgument


def held_refs(image_id: str, tags: Iterable[str], repo_digests: Iterable[str]) -> list[str]:
    digests = list(repo_digests)
    out = [*tags, *digests, image_id]
    for tag in tags:
        try:
            ref = registryref.parse(tag)
        except InvalidArgument:
            continue
        same = [d for d in digests if d.split("@", 1)[0] == ref.name]
        if same and ref.tag:
            out.append(f"{ref.tagged()}@{same[0].split('@', 1)[1]}")
    return out
