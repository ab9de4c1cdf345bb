"""Where a pull gets each manifest and blob: peers first, then the registry (its mirrors first).

Rule: a peer is asked by digest only (a tag is the registry's word, never a peer's), and is trusted for
nothing: every byte is verified by the endpoint client exactly as from a registry. A peer that fails
(unreachable, refusing, or serving bytes that do not match) is dropped for the rest of the pull; one that
lacks a blob (404) stays for the others. A peer whose blob answer ends short (it passes on a download of
its own that stalled or failed: cut-through) is asked once more for the rest (`Range`), the bytes so far
kept; only if that fails too is it dropped and the blob asked of the next source from byte 0. Upstream,
a mirror that fails or lacks something is passed over for the next; the registry's own error is the pull's
error (by digest, it also says whether any node was asked: an air-gapped cluster's image held by no node
fails as "no node holds it, and registry … unreachable").

A peer holds only the platforms it pulled: when a peer served the index but no peer has the manifest this
node's platform needs, that manifest and its blobs come from upstream like anything else a peer lacks; if
upstream cannot serve them either, the error names the platform and, asked of the peers by HEAD of the
index's other entries only then, the platforms they do hold (`lacking`, pure, words the error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

from svc.errors import NotFound, SvcError, Unavailable
from svc.registry.client import Endpoint

log = logging.getLogger(__name__)
T = TypeVar("T")


def lacking(had_peers: bool, platform: str = "", held: Sequence[str] | None = None) -> str:
    """What the peers lacked, for a pull by digest that upstream could not serve either: the image, or
    (`platform` given: the peers served its index) its manifest for `platform`, naming those `held`."""
    if platform:
        return f"no node holds it for {platform}" + (f" (the nodes asked hold {', '.join(held)})" if held else "")
    return "the nodes that hold it did not serve it" if had_peers else "no node holds it"


class Sources:
    def __init__(self, peers: list[Endpoint], upstream: list[Endpoint], by_digest: bool = False) -> None:
        self.peers = list(peers)
        self.upstream = list(upstream)
        self.by_digest = by_digest  # a pull by digest: an unreachable or lacking registry says whether peers had it
        self._had_peers = bool(peers)
        self._up = 0  # the first upstream endpoint not yet passed over
        self.bytes_from: dict[str, int] = {}  # endpoint host -> bytes it served this pull
        self.from_peers: set[str] = set()  # digests of the manifests a peer served

    def close(self) -> None:
        for ep in [*self.peers, *self.upstream]:
            ep.close()

    def _count(self, ep: Endpoint, n: int) -> None:
        self.bytes_from[ep.host] = self.bytes_from.get(ep.host, 0) + n

    def _from_peers(
        self,
        what: str,
        fn: Callable[[Endpoint], T],
        reset: Callable[[], None],
        resume: Callable[[Endpoint, SvcError], T | None] | None = None,
    ) -> T | None:
        for ep in list(self.peers):
            try:
                return fn(ep)
            except NotFound:
                reset()
            except SvcError as exc:
                if resume is not None and (got := resume(ep, exc)) is not None:
                    return got
                reset()
                log.warning("peer %s: %s: %s (not asked again for this pull)", ep.host, what, exc)
                self.peers.remove(ep)
        return None

    def _from_upstream(
        self, fn: Callable[[Endpoint], T], reset: Callable[[], None], why: Callable[[], str] | None = None
    ) -> T:
        try:
            return self._upstream(fn, reset)
        except (Unavailable, NotFound) as exc:
            if not self.by_digest:
                raise
            peers = why() if why is not None else lacking(self._had_peers)
            raise type(exc)(f"{peers}, and {exc.message}") from exc

    def _upstream(self, fn: Callable[[Endpoint], T], reset: Callable[[], None]) -> T:
        while True:
            ep = self.upstream[self._up]
            try:
                return fn(ep)
            except (Unavailable, NotFound):
                reset()
                if self._up + 1 >= len(self.upstream):
                    raise
                self._up += 1  # a mirror that fails or lacks it: the next one

    def manifest(
        self, repo: str, ref: str, expected_size: int = -1, why: Callable[[], str] | None = None
    ) -> tuple[bytes, str, str]:
        def get(ep: Endpoint) -> tuple[bytes, str, str]:
            got = ep.manifest(repo, ref, expected_size)
            self._count(ep, len(got[0]))
            return got

        if ref.startswith("sha256:"):
            found = self._from_peers(f"manifest {ref}", get, lambda: None)
            if found is not None:
                self.from_peers.add(ref)
                return found
        return self._from_upstream(get, lambda: None, why)

    def platform_manifest(
        self, repo: str, index_digest: str, entry: tuple[str, int], platform: str, others: Sequence[tuple[str, str]]
    ) -> tuple[bytes, str, str]:
        """The manifest `entry` (digest, size) an index names for `platform`. If a peer served the index and
        no source has this manifest, the error says so, naming the platforms of `others` ((digest, platform)
        of the index's other entries) that the peers hold."""

        def why() -> str:
            if index_digest not in self.from_peers:
                return lacking(self._had_peers)
            return lacking(True, platform, self._held(repo, others))

        return self.manifest(repo, entry[0], entry[1], why)

    def _held(self, repo: str, others: Sequence[tuple[str, str]]) -> list[str] | None:
        """The platforms of `others` some peer still asked has (HEAD); None if no peer answered."""
        held: list[str] = []
        answered = False
        for ep in list(self.peers):
            try:
                for digest, platform in others:
                    if platform not in held and ep.has_manifest(repo, digest):
                        held.append(platform)
                answered = True
            except SvcError as exc:
                log.warning("peer %s: which platforms it holds: %s", ep.host, exc)
        return held if answered else None

    def blob(
        self, repo: str, digest: str, size: int, out: IO[bytes], progress: Callable[[int], None] | None = None
    ) -> None:
        start = out.tell()

        def reset() -> None:  # a failed attempt leaves nothing for the next to append to
            out.seek(start)
            out.truncate()

        def get(ep: Endpoint) -> bool:
            ep.blob(repo, digest, size, out, progress)
            self._count(ep, out.tell() - start)
            return True

        def resume(ep: Endpoint, exc: SvcError) -> bool | None:
            """A peer's answer that ended short (cut-through: its own download stalled, or failed and is
            being fetched again from its next source) is asked once more, for the rest only (Range); the
            bytes so far are kept. None: not such an answer, or the second ended short too."""
            have = out.tell() - start
            if not isinstance(exc, Unavailable) or not 0 < have < size:
                return None
            log.info("peer %s: blob %s ended at %d of %d bytes: asking it for the rest", ep.host, digest, have, size)
            try:
                ep.blob(repo, digest, size, out, progress, offset=have)
            except SvcError as again:
                log.info("peer %s: blob %s: the rest: %s", ep.host, digest, again)
                return None
            self._count(ep, out.tell() - start)  # both parts came from it
            return True

        if self._from_peers(f"blob {digest}", get, reset, resume):
            return
        self._from_upstream(get, reset)
