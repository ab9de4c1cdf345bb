"""Push an image from the node's image store to a registry (`svc image push NAME[:TAG]`).

    layers (3 at a time: HEAD, else a cross-repository mount, else an upload) -> config -> manifest under the tag

The store keeps every blob as it was pulled or imported, so what is pushed are those bytes under their own
digests, and the stored manifest itself when it describes exactly the blobs the store has (the digest is
then the one the image was pulled or imported with). A layer whose original blob is not there (its diff id
was present already when the image came) is pushed as the blob the store unpacked it from, in a new OCI
manifest. Every blob is hashed as it is sent and its upload is not completed unless it matches its digest.
The manifest is put only after every blob is in the registry, so a failed push makes no tag there; the local
store changes only at the end (the `NAME@sha256:...` the image is now known by).

The rule: nothing is pushed that cannot be verified, and nothing half-made is left under a tag.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from svc import registryref as refs
from svc.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuntimeFailure,
    SvcError,
    Unauthenticated,
)
from svc.registry import auth
from svc.registry.client import Endpoint
from svc.registry.settings import RegistrySettings

from ..images import ImageRecord, ImageStore
from .pull import Progress

MAX_PARALLEL = 3
CHUNK_BYTES = 16 << 20  # blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_OCI_LAYER = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}

Report = Callable[[Progress], None]


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Pushed:
    digest: str  # the manifest's, as the registry has it
    size: int  # the manifest's length
    record: ImageRecord


def compression(head: bytes) -> str:
    """tar, gzip or zstd, from a blob's first bytes."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "tar"


def stored_descriptors(manifest: bytes) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(media type, config descriptor, layer descriptors) of a stored manifest; empty when it is not one."""
    try:
        doc = json.loads(manifest) if manifest else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        return "", {}, []
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    layers = [d for d in doc.get("layers") or [] if isinstance(d, dict)] if isinstance(doc.get("layers"), list) else []
    media = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else ""
    if not media and config and layers:
        media = OCI_MANIFEST
    return media, config, layers  # type: ignore[return-value]


def manifest_to_push(stored: bytes, config: Blob, layers: list[Blob]) -> tuple[bytes, str]:
    """The manifest bytes and media type to put: the stored manifest when it names exactly these blobs (its
    digest is then the one the image came with), else a new OCI manifest for them."""
    media, cdesc, ldescs = stored_descriptors(stored)
    if (
        media in (OCI_MANIFEST, DOCKER_MANIFEST)
        and cdesc.get("digest") == config.digest
        and cdesc.get("size") == config.size
        and [(d.get("digest"), d.get("size")) for d in ldescs] == [(b.digest, b.size) for b in layers]
        and not any(d.get("urls") for d in ldescs)
    ):
        return stored, media
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layers],
    }
    return json.dumps(doc, separators=(",", ":")).encode(), OCI_MANIFEST


def mount_sources(ref: refs.Reference, repo_digests: tuple[str, ...]) -> list[str]:
    """Repositories on the same registry the image was pulled from or pushed to: where its blobs may be mounted
    from. Names are as the store keeps them (`busybox@sha256:...`, `host:5000/app@sha256:...`)."""
    out: list[str] = []
    for rd in repo_digests:
        try:
            other = refs.parse(rd)
        except InvalidArgument:
            continue
        if other.registry == ref.registry and other.repository != ref.repository and other.repository not in out:
            out.append(other.repository)
    return out


def needs_login(ref: refs.Reference, creds: tuple[str, str] | None) -> bool:
    """Docker Hub takes no anonymous push: refuse before any traffic rather than after a round of 401s."""
    return ref.registry == refs.DOCKER_HUB and creds is None


def _short(digest: str) -> str:
    return digest[7:19]


class _Push:
    def __init__(
        self,
        store: ImageStore,
        ref: refs.Reference,
        record: ImageRecord,
        settings: RegistrySettings,
        report: Report,
        creds: tuple[str, str] | None,
        chunk_size: int,
    ) -> None:
        self.store = store
        self.ref = ref
        self.record = record
        self.settings = settings
        self.report = report
        self.creds = creds
        self.chunk_size = chunk_size
        self.repo = ref.repository
        self.scope = f"repository:{self.repo}:pull,push"
        self._lock = threading.Lock()

    def blobs(self) -> tuple[Blob, list[Blob], bytes, str]:
        """(config, layers bottom first, manifest bytes, media type) from what the store holds."""
        stored = b""
        if self.record.manifest and self.store.has_blob(self.record.manifest):
            with open(self.store.blob_path(self.record.manifest), "rb") as f:
                stored = f.read()
        _media, cdesc, ldescs = stored_descriptors(stored)
        config_size = os.path.getsize(self.store.blob_path(self.record.id))
        config = Blob(self.record.id, config_size, str(cdesc.get("mediaType") or OCI_CONFIG))
        layers: list[Blob] = []
        for i, diff_id in enumerate(self.record.layers):
            desc = ldescs[i] if len(ldescs) == len(self.record.layers) else {}
            digest, size = desc.get("digest"), desc.get("size")
            media = desc.get("mediaType")
            if not (isinstance(digest, str) and self._has(digest, size)):
                digest, media = self.store.layer_blob(diff_id), ""
                if not digest or not self.store.has_blob(digest):
                    raise RuntimeFailure(f"layer {diff_id}: no blob of it in the image store (pull or import it again)")
            path = self.store.blob_path(digest)
            if not isinstance(media, str) or not media:
                with open(path, "rb") as f:
                    media = _OCI_LAYER[compression(f.read(4))]
            layers.append(Blob(digest, os.path.getsize(path), media))
        body, media = manifest_to_push(stored, config, layers)
        return config, layers, body, media

    def _has(self, digest: str, size: object) -> bool:
        if not self.store.has_blob(digest) or not isinstance(size, int):
            return False
        return os.path.getsize(self.store.blob_path(digest)) == size

    def run(self) -> Pushed:
        config, layers, body, media = self.blobs()
        host = self.ref.api_host()
        self.report(Progress(status=f"The push refers to repository [{self.ref.registry}/{self.repo}]"))
        shown = list(zip(self.record.layers, layers, strict=True))[::-1]  # top first, as docker shows them
        for diff_id, _ in shown:
            self.report(Progress(id=_short(diff_id), status="Preparing"))
        names = [config.digest, *(b.digest for b in layers)]
        self.store.hold(names)
        try:
            with Endpoint(
                self.settings.base_url(host),
                host,
                self.settings.config_files,
                creds=self.creds,
                verify=self.settings.tls(host),
                on_rotate=lambda token: self.report(Progress(identity_token=token)),  # at once, as a pull's
            ) as ep:
                try:
                    self._layers(ep, shown)
                    if not ep.blob_exists(self.repo, config.digest, self.scope):
                        with open(self.store.blob_path(config.digest), "rb") as f:
                            ep.upload_blob(self.repo, config.digest, config.size, f, self.scope, self.chunk_size)
                    digest = ep.put_manifest(self.repo, self.ref.tag, body, media, self.scope)
                except (Unauthenticated, PermissionDenied) as exc:
                    if f"registry {ep.host}" in exc.message:
                        raise
                    raise type(exc)(f"registry {ep.host} refused: {exc.message}") from exc
        finally:
            self.store.release(names)
        record = self.store.add_repo_digest(self.record.id, f"{self.ref.name}@{digest}")
        self.report(Progress(status=f"{self.ref.tag}: digest: {digest} size: {len(body)}", image_id=record.id))
        return Pushed(digest, len(body), record)

    def _layers(self, ep: Endpoint, shown: list[tuple[str, Blob]]) -> None:
        sources = mount_sources(self.ref, self.record.repo_digests)
        done: set[str] = set()
        jobs = []
        for diff_id, blob in shown:
            if blob.digest in done:  # the same layer twice in one image
                continue
            done.add(blob.digest)
            jobs.append((diff_id, blob))
        if len(jobs) > MAX_PARALLEL:
            for diff_id, _ in jobs[MAX_PARALLEL:]:
                self.report(Progress(id=_short(diff_id), status="Waiting"))
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="push") as pool:
            futures = [pool.submit(self._layer, ep, d, b, sources) for d, b in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                f.cancel()
            errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
            if errors:
                raise errors[0]  # type: ignore[misc]

    def _layer(self, ep: Endpoint, diff_id: str, blob: Blob, sources: list[str]) -> None:
        short = _short(diff_id)
        if ep.blob_exists(self.repo, blob.digest, self.scope):
            self.report(Progress(id=short, status="Layer already exists"))
            return
        location = ""
        for source in sources:
            mounted, location = ep.mount_blob(self.repo, blob.digest, source, f"{self.scope} repository:{source}:pull")
            if mounted:
                self.report(Progress(id=short, status=f"Mounted from {source}"))
                return
            break  # the registry opened an upload session instead: use it
        step = max(blob.size // 50, 1 << 16)
        last = [0]

        def progress(sent: int) -> None:
            if sent - last[0] >= step or sent == blob.size:
                last[0] = sent
                self.report(Progress(id=short, status="Pushing", current=sent, total=blob.size))

        self.report(Progress(id=short, status="Pushing", current=0, total=blob.size))
        with open(self.store.blob_path(blob.digest), "rb") as f:
            ep.upload_blob(self.repo, blob.digest, blob.size, f, self.scope, self.chunk_size, progress, location)
        self.report(Progress(id=short, status="Pushed", current=blob.size, total=blob.size))


def local_image(store: ImageStore, text: str) -> tuple[refs.Reference, ImageRecord]:
    """The reference to push and the image it names here; docker's words when there is none."""
    ref = refs.parse(text)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference ({text}): push NAME[:TAG]")
    try:
        return ref, store.resolve(ref.tagged())
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.tagged()}") from None


def tag(store: ImageStore, source: str, target: str) -> ImageRecord:
    """`svc image tag SOURCE TARGET`: SOURCE an id, id prefix, NAME[:TAG] or NAME@DIGEST here; TARGET is
    normalised as a pull names images (`127.0.0.1:5000/app:1`, `busybox:latest`)."""
    ref = refs.parse(target)
    if ref.digest:
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
    try:
        record = store.resolve(source)
    except NotFound:
        shown = source
        if "@" not in source and not source.startswith("sha256:"):
            try:
                shown = str(refs.parse(source))
            except InvalidArgument:
                pass
        raise NotFound(f"No such image: {shown}") from None
    store.tag(record.id, ref.tagged())
    return store.resolve(record.id)


def push(
    store: ImageStore,
    text: str,
    settings: RegistrySettings,
    report: Report | None = None,
    creds: tuple[str, str] | None = None,
    chunk_size: int = CHUNK_BYTES,
) -> Pushed:
    """Push the image tagged `text` (`host:5000/app:1`; no tag means `latest`) to its registry.

    Errors are svc errors with one line naming the image; the image store is changed only by a push that
    completed (the repository digest is recorded)."""
    ref, record = local_image(store, text)
    creds = creds or auth.credentials(ref.api_host(), settings.config_files)
    if needs_login(ref, creds):
        raise Unauthenticated(f"pushing {ref}: Docker Hub takes no anonymous push: log in first (svc login)")
    job = _Push(store, ref, record, settings, report or (lambda p: None), creds, chunk_size)
    try:
        return job.run()
    except SvcError as exc:
        raise type(exc)(f"pushing {ref}: {exc.message}") from exc
    except OSError as exc:
        where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
        raise RuntimeFailure(f"pushing {ref}: {exc.strerror or exc}{where}") from exc
