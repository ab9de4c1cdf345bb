"""Pull an image from a registry into the node's image store.

    reference -> manifest (an index or manifest list picks this host's platform) -> config -> layers

By digest, each manifest and blob is asked of peer nodes first, then of the mirrors and the registry
(sources.py); every byte is verified the same whoever served it. One download per blob digest at a time
on a node (inflight.py).

Layers download in parallel (at most `MAX_PARALLEL` at a time); a layer whose diff id is already unpacked is
not fetched. Each blob goes to a scratch file in the store, is checked for size and digest, fsynced and
renamed into place; the layer is unpacked from the scratch file while its fsync runs, its diff id checked
against the config, and put in place after its blob. A failed pull removes every blob and layer it added,
so nothing half-written stays in the store.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from svc import defaults
from svc import registryref as refs
from svc.errors import InvalidArgument, RuntimeFailure, SvcError
from svc.fsutil import BackgroundFsync
from svc.registry import platforms
from svc.registry.client import Endpoint, parse_json
from svc.registry.settings import RegistrySettings

from ..imageconfig import parse_image_config
from ..images import ImageRecord, ImageStore
from . import inflight
from .peerserver import IMAGE_HEADER
from .sources import Sources

log = logging.getLogger(__name__)

MAX_PARALLEL = 3
MAX_CONFIG_BYTES = 8 << 20
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
)


@dataclass(frozen=True)
class Progress:
    """One line of a pull's progress, as `docker pull` shows it."""

    id: str = ""  # a layer's short digest; empty for an image-wide message
    status: str = ""  # Pulling fs layer, Waiting, Downloading, Verifying Checksum, Extracting, Pull complete, ...
    current: int = 0
    total: int = 0
    image_id: str = ""  # set on the last message
    identity_token: str = ""  # the identity token given with the pull, rotated by the token service: keep this one


Report = Callable[[Progress], None]


def _short(digest: str) -> str:
    return digest[7:19]


class _Pull:
    def __init__(
        self,
        store: ImageStore,
        ref: refs.Reference,
        settings: RegistrySettings,
        want: platforms.Platform,
        report: Report,
    ) -> None:
        self.store = store
        self.ref = ref
        self.settings = settings
        self.want = want
        self.report = report
        self.creds: tuple[str, str] | None = None
        self.peers: Sequence[str] = ()  # HOST:PORT of nodes that hold (or are pulling) it, asked first
        self.peer_tls: ssl.SSLContext | None = None
        self.new_blobs: list[str] = []
        self.new_layers: list[str] = []
        self._lock = threading.Lock()

    def endpoints(self) -> list[tuple[str, str]]:
        """(base URL, host) to try in order: mirrors for Docker Hub images, then the registry itself."""
        host = self.ref.api_host()
        out = []
        if self.ref.registry == refs.DOCKER_HUB:
            for m in self.settings.mirrors:
                out.append((m, m.split("://", 1)[1]))
        out.append((self.settings.base_url(host), host))
        return out

    def sources(self) -> Sources:
        peers = []
        if self.ref.digest and self.peer_tls is not None:  # by digest only: a tag is the registry's word
            for addr in self.peers:
                peers.append(
                    Endpoint(
                        f"https://{addr}",
                        addr,
                        timeout=defaults.PEER_READ_TIMEOUT_SECONDS,
                        verify=self.peer_tls,
                        connect_timeout=defaults.PEER_CONNECT_TIMEOUT_SECONDS,
                        headers={IMAGE_HEADER: self.ref.digest},  # the peer may be about to pull it too
                    )
                )
        upstream = [
            Endpoint(
                base,
                host,
                self.settings.config_files,
                creds=self.creds,
                verify=self.settings.tls(host),
                on_rotate=self._rotated,
            )
            for base, host in self.endpoints()
        ]
        return Sources(peers, upstream, by_digest=bool(self.ref.digest))

    def _rotated(self, token: str) -> None:
        """The token service rotated the identity token given with the pull (and may have revoked the old):
        on the progress stream at once, so the caller keeps it even if the pull fails or is cut off later."""
        self.report(Progress(identity_token=token))

    def run(self) -> ImageRecord:
        src = self.sources()
        try:
            # peers asking this node may wait meanwhile
            with inflight.resolving(self.store.root, self.ref.digest) as resolved:
                top = src.manifest(self.ref.repository, self.ref.reference)
                record = self._pull_from(src, top, resolved)
        finally:
            src.close()
        if src.bytes_from:
            got = ", ".join(f"{n} bytes from {h}" for h, n in sorted(src.bytes_from.items()))
            log.info("pulled %s: %s", self.ref, got)
        return record

    def _pull_from(self, ep: Sources, top: tuple[bytes, str, str], resolved: Callable[[], None]) -> ImageRecord:
        body, media, top_digest = top
        index = b""  # the top manifest when it is an index: kept, so peers can serve the digest a service pins
        repo = self.ref.repository
        doc = parse_json(body, f"manifest {self.ref.reference}")
        if not isinstance(doc, dict):
            raise InvalidArgument(f"manifest {self.ref.reference} is not a JSON object")
        self.report(Progress(status=f"Pulling from {self.ref.name}", id=self.ref.tag or _short(self.ref.digest)))
        depth = 0
        while media in _INDEX_TYPES or (not media and "manifests" in doc):
            depth += 1
            if depth > 3:
                raise InvalidArgument("image indexes nest too deeply")
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise InvalidArgument("the image index has no manifests list")
            entry = platforms.choose(entries, self.want, what=f"image {self.ref}")
            digest, size = _descriptor(entry, "index entry")
            if depth == 1:
                index = body  # a peer may hold it without this platform: then its manifest comes from upstream
                others = _other_platforms(entries, entry)
                body, media, _ = ep.platform_manifest(repo, top_digest, (digest, size), str(self.want), others)
            else:
                body, media, _ = ep.manifest(repo, digest, expected_size=size)
            doc = parse_json(body, f"manifest {digest}")
            if not isinstance(doc, dict):
                raise InvalidArgument(f"manifest {digest} is not a JSON object")
        if media and media not in _MANIFEST_TYPES:
            if "fsLayers" in doc or media.endswith("manifest.v1+prettyjws") or media.endswith("manifest.v1+json"):
                raise InvalidArgument("Docker schema 1 manifests are not supported (re-push the image)")
            raise InvalidArgument(f"unsupported manifest media type {media!r}")
        config_desc = doc.get("config")
        layer_descs = doc.get("layers")
        if not isinstance(config_desc, dict) or not isinstance(layer_descs, list):
            raise InvalidArgument("the image manifest needs a config and a layers list")
        config_digest, config_size = _descriptor(config_desc, "config")
        if config_size > MAX_CONFIG_BYTES:
            raise InvalidArgument(f"image config {config_digest} is too large ({config_size} bytes)")
        blobs = [config_digest, *(_descriptor(d, "layer")[0] for d in layer_descs)]
        with inflight.expected(self.store.root, blobs):  # from here peers asking for them may wait
            resolved()
            return self._from_manifest(ep, body, top_digest, index, config_digest, config_size, layer_descs)

    def _from_manifest(
        self,
        ep: Sources,
        body: bytes,
        top_digest: str,
        index: bytes,
        config_digest: str,
        config_size: int,
        layer_descs: list[Any],
    ) -> ImageRecord:
        config = self._small_blob(ep, config_digest, config_size)
        cfg = parse_image_config(config)
        if (cfg.os and cfg.os != self.want.os) or (cfg.architecture and self._arch_mismatch(cfg.architecture)):
            raise InvalidArgument(
                f"image {self.ref} is for {cfg.os}/{cfg.architecture}, not this host's {self.want}"
                " (choose a platform with --platform)"
            )
        layers = [_descriptor(d, "layer") for d in layer_descs]
        for d in layer_descs:
            mt = d.get("mediaType", "")
            if mt and mt not in _LAYER_TYPES:
                raise InvalidArgument(f"layer {d.get('digest')}: unsupported media type {mt!r}")
            if d.get("urls"):
                raise InvalidArgument(f"layer {d.get('digest')}: foreign layers (urls) are not supported")
        if len(layers) != len(cfg.diff_ids):
            raise InvalidArgument(
                f"the manifest lists {len(layers)} layers but the image config has {len(cfg.diff_ids)} diff ids"
            )
        for (digest, _size), diff_id in zip(layers, cfg.diff_ids, strict=True):
            if self.store.has_layer(diff_id):
                self.report(Progress(id=_short(digest), status="Already exists"))
            else:
                self.report(Progress(id=_short(digest), status="Pulling fs layer"))
        held = [config_digest, *(d for d, _ in layers), *cfg.diff_ids]
        self.store.hold(held)
        try:
            return self._layers_and_record(ep, body, top_digest, config, cfg.diff_ids, layers, index)
        finally:
            self.store.release(held)

    def _layers_and_record(
        self,
        ep: Sources,
        body: bytes,
        top_digest: str,
        config: bytes,
        diff_ids: tuple[str, ...],
        layers: list[tuple[str, int]],
        index: bytes = b"",
    ) -> ImageRecord:
        jobs = [
            (digest, size, diff_id)
            for (digest, size), diff_id in zip(layers, diff_ids, strict=True)
            if not self.store.has_layer(diff_id)
        ]
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="pull") as pool:
            futures = [pool.submit(self._layer, ep, d, s, diff) for d, s, diff in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                f.cancel()  # the first failure decides; layers not started yet are not fetched
            errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
            if errors:
                raise errors[0]  # type: ignore[misc]
        record = self.store.add_pulled_image(
            config,
            body,
            list(diff_ids),
            [d for d, _ in layers],
            # By digest, a tag beside it names nothing here (docker ignores it too): a service's
            # `NAME:TAG@sha256:…` must not leave a tag behind that later points elsewhere.
            "" if self.ref.digest else self.ref.tagged(),
            f"{self.ref.name}@{top_digest}",
            index,
        )
        self.report(Progress(status=f"Digest: {top_digest}"))
        return record

    def _arch_mismatch(self, arch: str) -> bool:
        got = platforms.normalize(self.want.os, arch)
        return got.architecture not in {a for a, _ in platforms.acceptable(self.want)}

    def _fetch(
        self,
        ep: Sources,
        digest: str,
        size: int,
        progress: Callable[[int], None] | None = None,
        then: Callable[[str, Callable[[], None]], None] | None = None,
    ) -> bool:
        """Download a blob into the store unless it is there: scratch file, verify, fsync, rename.

        `then(scratch, commit)` works on the verified scratch file while its fsync runs; `commit()` waits for the
        fsync and renames the blob into place (`then` must call it, or the blob is dropped). False when the blob
        was in the store already (`then` is not called). One download per digest at a time on this node: another
        pull of the same blob waits, then finds it."""
        if self.store.has_blob(digest):
            return False
        with inflight.fetching(self.store.root, digest):
            if self.store.has_blob(digest):
                return False
            self._download(ep, digest, size, progress, then)
            return True

    def _download(
        self,
        ep: Sources,
        digest: str,
        size: int,
        progress: Callable[[int], None] | None,
        then: Callable[[str, Callable[[], None]], None] | None,
    ) -> None:
        fd, scratch = self.store.scratch_file()
        try:
            # peers may pass it on meanwhile; readable: a resumed blob hashes its first part again
            with inflight.growing(self.store.root, digest, scratch, size), os.fdopen(fd, "w+b") as out:
                ep.blob(self.ref.repository, digest, size, out, progress)
                out.flush()
                self._settle(out.fileno(), scratch, digest, then)
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)

    def _settle(
        self, fd: int, scratch: str, digest: str, then: Callable[[str, Callable[[], None]], None] | None
    ) -> None:
        """fsync the verified scratch file and rename it into place as the blob; with `then`, the fsync runs on
        a thread of its own while `then` works on the file."""
        if then is None:
            os.fsync(fd)
            self._commit(scratch, digest)
            return
        synced = BackgroundFsync(fd)

        def commit() -> None:
            synced.wait()
            self._commit(scratch, digest)

        try:
            then(scratch, commit)
        finally:
            synced.wait_quietly()  # the file stays open until its fsync is done, whatever happened

    def _commit(self, scratch: str, digest: str) -> None:
        with self._lock:
            self.new_blobs.append(digest)
        self.store.commit_blob(scratch, digest)

    def _small_blob(self, ep: Sources, digest: str, size: int) -> bytes:
        self._fetch(ep, digest, size)
        with open(os.path.join(self.store.root, "blobs", "sha256", digest[7:]), "rb") as f:
            return f.read()

    def _layer(self, ep: Sources, digest: str, size: int, diff_id: str) -> None:
        short = _short(digest)
        step = max(size // 50, 1 << 16)
        shown = [0]

        def progress(got: int) -> None:
            if got - shown[0] >= step or got == size:
                shown[0] = got
                self.report(Progress(id=short, status="Downloading", current=got, total=size))

        def unpack(source: str, ready: Callable[[], None] | None) -> None:
            # A download's fsync takes 15-45 ms, about what the unpack takes: they run side by side.
            self.report(Progress(id=short, status="Download complete", current=size, total=size))
            self.report(Progress(id=short, status="Extracting", total=size))
            with self._lock:
                self.new_layers.append(diff_id)
            self.store.unpack_blob(digest, diff_id, name=digest, source=source, ready=ready)

        if not self._fetch(ep, digest, size, progress, then=unpack):
            unpack("", None)  # the blob was in the store already
        self.report(Progress(id=short, status="Pull complete"))


def _other_platforms(entries: list[Any], chosen: Any) -> list[tuple[str, str]]:
    """(digest, platform) of an index's entries besides `chosen` that name a platform (attestation
    manifests, `unknown/unknown`, do not)."""
    out = []
    for e in entries:
        if e is chosen or not isinstance(e, dict) or not isinstance(e.get("platform"), dict):
            continue
        digest, name = e.get("digest"), platforms.describe(e)
        named = not {"unknown", "?"} & set(name.split("/"))
        if named and isinstance(digest, str) and len(digest) == 71 and digest.startswith("sha256:"):
            out.append((digest, name))
    return out


def _descriptor(desc: Any, what: str) -> tuple[str, int]:
    if not isinstance(desc, dict):
        raise InvalidArgument(f"{what} descriptor is not an object")
    digest, size = desc.get("digest"), desc.get("size")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise InvalidArgument(f"{what} descriptor has a bad or unsupported digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidArgument(f"{what} {digest} has no valid size")
    return digest, size


def pull(
    store: ImageStore,
    text: str,
    settings: RegistrySettings,
    platform: str = "",
    report: Report | None = None,
    creds: tuple[str, str] | None = None,
    peers: Sequence[str] = (),
    peer_tls: ssl.SSLContext | None = None,
) -> ImageRecord:
    """Pull `text` (`busybox`, `host:5000/app:1`, `app@sha256:...`) into `store`.

    By digest, `peers` (HOST:PORT of other nodes, with `peer_tls` the cluster's client context) are asked
    first. Errors are svc errors with one line naming the image; nothing the pull added stays behind on failure.
    """
    ref = refs.parse(text)
    want = platforms.parse(platform) if platform else platforms.host_platform()
    job = _Pull(store, ref, settings, want, report or (lambda p: None))
    job.creds = creds
    job.peers, job.peer_tls = peers, peer_tls
    try:
        return job.run()
    except SvcError as exc:
        store.discard(job.new_blobs, job.new_layers)
        raise type(exc)(f"pulling {ref}: {exc.message}") from exc
    except OSError as exc:  # the image disk full, read-only, ...: one line, and nothing left half-written
        store.discard(job.new_blobs, job.new_layers)
        where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
        raise RuntimeFailure(f"pulling {ref}: {exc.strerror or exc}{where}") from exc
    except BaseException:
        store.discard(job.new_blobs, job.new_layers)
        raise


def check_login(server: str, user: str, password: str, settings: RegistrySettings) -> tuple[str, str]:
    """Try credentials against a registry (`svc login`): (the registry host they are for, the identity
    token its token service gave to keep instead of the password, or "": a basic-auth registry, or a
    token service that gives none). The token service is asked for one as docker login asks
    (`offline_token=true`)."""
    host = refs.login_host(server)
    api = refs.DOCKER_HUB_API if host == refs.DOCKER_HUB else host
    with Endpoint(settings.base_url(api), api, creds=(user, password), verify=settings.tls(api), offline=True) as ep:
        try:
            ep.check_login()
        except SvcError as exc:
            raise type(exc)(f"login to {host}: {exc.message}") from exc
        return host, ep.refresh_token
