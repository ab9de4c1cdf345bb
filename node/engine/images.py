"""The node's image store, laid out like an OCI image layout.

    images/blobs/sha256/<hex>     every blob by digest: configs, manifests, layers as received
    images/layers/<hex>/          each layer unpacked once, by diff id, shared by every image
    images/index.json             image records (id = config digest) and tags -> id

Blobs are written to a scratch file, verified, then renamed into place; layers are
unpacked into a scratch directory and renamed; the index is replaced atomically. A failed
import therefore leaves no half-written blob, layer or record behind.

Removal deletes an image's record, then those of its blobs and layers that no image left and no
hold (a pull or a container create in progress) refers to; only the parts of the images removed
are looked at, so whatever an import or pull is writing meanwhile is never touched. Blobs and
layers no record refers to (a crash between writing them and recording the image) are swept when
the store opens, when nothing can be in progress. Each record keeps `last_used`: when a container
was last created from it, or when it was added (image GC removes the least recently used first);
in memory at every create, on disk at most once a minute per image (USE_SAVE_SECONDS).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from svc import reference, registryref
from svc.errors import Conflict, InvalidArgument, NotFound
from svc.fsutil import read_json, write_json
from svc.reference import repo_digest

from .imagearchive import ArchiveImage, ImageArchive, LayerSource
from .imageconfig import ImageConfig, parse_image_config, rootfs_image_config
from .imagegc import DiskUsage, GcImage
from .layers import unpack_layer

_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
USE_SAVE_SECONDS = 60.0  # how often, at most, an image's last_used is written by a container create


@dataclass(frozen=True)
class ImageRecord:
    id: str  # sha256:<hex of config>
    tags: tuple[str, ...]
    layers: tuple[str, ...]  # diff ids, bottom first
    size: int
    created: float
    manifest: str  # digest of the stored manifest
    # NAME@sha256:... it was pulled or pushed as; for an import, NAME@<its stored manifest> (peers serve it)
    repo_digests: tuple[str, ...] = ()


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._blobs = os.path.join(root, "blobs", "sha256")
        self._layers = os.path.join(root, "layers")
        self._tmp = os.path.join(root, "tmp")
        self._index_path = os.path.join(root, "index.json")
        for d in (self._blobs, self._layers, self._tmp):
            os.makedirs(d, exist_ok=True)
        # Scratch files from a crashed import are garbage by definition.
        for name in os.listdir(self._tmp):
            shutil.rmtree(os.path.join(self._tmp, name), ignore_errors=True)
        self._lock = threading.RLock()
        self._use_saved: dict[str, float] = {}  # image id -> when its last_used was last written
        self._configs: dict[str, ImageConfig] = {}
        self._layer_locks: dict[str, threading.Lock] = {}
        # Digests and diff ids an unfinished pull is adding: garbage collection leaves them alone.
        self._held: dict[str, int] = {}
        index = read_json(self._index_path, {})
        self._images: dict[str, dict] = index.get("images", {})
        self._tags: dict[str, str] = index.get("tags", {})
        # diff id -> [uncompressed size, digest of the blob it came from]
        self._layer_info: dict[str, list] = index.get("layers", {})
        self._sweep_orphans()

    # ----- queries -----

    def records(self) -> list[ImageRecord]:
        with self._lock:
            return [self._record(i) for i in sorted(self._images)]

    def resolve(self, ref: str) -> ImageRecord:
        """Find an image by NAME[:TAG], full id or unique id prefix."""
        with self._lock:
            if ref.startswith("sha256:") and ref in self._images:
                return self._record(ref)
            for tag in _tag_forms(ref):
                if tag in self._tags:
                    return self._record(self._tags[tag])
            if "@sha256:" in ref:
                # by digest only: a tag beside it (`NAME:TAG@sha256:…`, what a service pins) says nothing
                want = repo_digest(ref)
                for image_id, rec in self._images.items():
                    if want in rec.get("repo_digests", []) or want in rec.get("local_digests", []):
                        return self._record(image_id)
            if reference.looks_like_id(ref):
                prefix = ref if ref.startswith("sha256:") else "sha256:" + ref
                found = [i for i in self._images if i.startswith(prefix)]
                if len(found) == 1:
                    return self._record(found[0])
                if len(found) > 1:
                    raise InvalidArgument(f"image id prefix {ref!r} is ambiguous")
            raise NotFound(f"no such image: {ref}")

    def config_bytes(self, image_id: str) -> bytes:
        with open(self._blob_path(image_id), "rb") as f:
            return f.read()

    def config(self, image_id: str) -> ImageConfig:
        """The parsed config; configs are content-addressed, so a parse is cached for good."""
        cached = self._configs.get(image_id)
        if cached is None:
            cached = self._configs[image_id] = parse_image_config(self.config_bytes(image_id))
        return cached

    def layer_dirs(self, image_id: str) -> list[str]:
        """The unpacked layer directories of an image, bottom first."""
        with self._lock:
            layers = self._images[image_id]["layers"]
        return [os.path.join(self._layers, d[7:]) for d in layers]

    def _record(self, image_id: str) -> ImageRecord:
        rec = self._images[image_id]
        tags = tuple(sorted(t for t, i in self._tags.items() if i == image_id))
        return ImageRecord(
            id=image_id,
            tags=tags,
            layers=tuple(rec["layers"]),
            size=sum(self._layer_info.get(d, [0])[0] for d in rec["layers"]),
            created=rec.get("created", 0.0),
            manifest=rec.get("manifest", ""),
            repo_digests=tuple(rec.get("repo_digests", ())) + tuple(rec.get("local_digests", ())),
        )

    def _blob_path(self, digest: str) -> str:
        return os.path.join(self._blobs, digest[7:])

    def blob_path(self, digest: str) -> str:
        """Where blob `digest` is (or would be) stored."""
        return self._blob_path(digest)

    def layer_blob(self, diff_id: str) -> str:
        """The digest of the blob a layer was unpacked from, as stored; empty if the store does not know it."""
        with self._lock:
            info = self._layer_info.get(diff_id)
        return info[1] if info else ""

    def add_repo_digest(self, image_id: str, repo_digest: str) -> ImageRecord:
        """Record `NAME@sha256:...` an image is known by in a registry (after a push, as Docker does)."""
        with self._lock:
            rec = self._images.get(image_id)
            if rec is None:
                raise NotFound(f"no such image: {image_id}")
            digests = rec.setdefault("repo_digests", [])
            if repo_digest not in digests:
                digests.append(repo_digest)
                self._save_index()
            return self._record(image_id)

    # ----- import -----

    def import_archive(self, path: str, ref: str = "") -> list[ImageRecord]:
        """Import every image in the archive; tag the first with `ref` if given."""
        tag = reference.normalize(ref) if ref else ""
        with ImageArchive(path) as archive:
            if archive.kind == "rootfs":
                source = LayerSource(archive.rootfs_opener(path), name=os.path.basename(path))
                diff_id = self._add_layer(source, expected_diff_id="")
                config = rootfs_image_config(diff_id)
                images = [ArchiveImage(config=config, layers=[])]
                ids = [self._add_image(images[0], [diff_id])]
            else:
                images = archive.images()
                ids = []
                for image in images:
                    cfg = parse_image_config(image.config)
                    if len(cfg.diff_ids) != len(image.layers):
                        raise InvalidArgument(
                            f"image config lists {len(cfg.diff_ids)} layers but the archive has {len(image.layers)}"
                        )
                    diff_ids = [self._add_layer(s, want) for s, want in zip(image.layers, cfg.diff_ids, strict=True)]
                    ids.append(self._add_image(image, diff_ids))
        with self._lock:
            for image, image_id in zip(images, ids, strict=False):
                for t in image.tags:
                    try:
                        self._tags[reference.normalize(t)] = image_id
                    except InvalidArgument:
                        continue  # a foreign tag we cannot express is dropped, not fatal
            if tag:
                self._tags[tag] = ids[0]
            for t, image_id in self._tags.items():
                if image_id in ids:
                    self._add_local_digest(image_id, t)
            self._save_index()
            return [self._record(i) for i in ids]

    def _add_local_digest(self, image_id: str, tag: str) -> None:
        """An imported image is known as `NAME@<its stored manifest's digest>` for each of its tags: the
        digest peers fetch it by, and a service pins when only this node holds it (docs/images.md,
        air-gapped clusters). Kept apart from registry digests: an import whose tag moved on is
        dangling (prune removes it) unless a task uses it. Caller holds the lock."""
        rec = self._images[image_id]
        try:
            name = registryref.parse(tag).name
        except InvalidArgument:
            return
        local = rec.setdefault("local_digests", [])
        if rec.get("manifest") and not any(d.split("@", 1)[0] == name for d in [*rec.get("repo_digests", []), *local]):
            local.append(f"{name}@{rec['manifest']}")

    def _write_blob(self, data: bytes | IO[bytes], expected: str = "") -> str:
        """Store a blob; verify it against `expected` when given. Returns its digest."""
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        hasher = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes):
                    hasher.update(data)
                    out.write(data)
                else:
                    while chunk := data.read(1 << 20):
                        hasher.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + hasher.hexdigest()
            if expected and digest != expected:
                raise InvalidArgument(f"blob digest mismatch: expected {expected}, got {digest}")
            os.replace(tmp, self._blob_path(digest))
            return digest
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _add_layer(self, source: LayerSource, expected_diff_id: str) -> str:
        """Store and unpack a layer unless a layer with that diff id is present already."""
        if expected_diff_id and self.has_layer(expected_diff_id):
            return expected_diff_id
        with source.open() as stream:
            blob_digest = self._write_blob(stream, source.digest)
        return self.unpack_blob(blob_digest, expected_diff_id, source.name)

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(os.path.join(self._layers, diff_id[7:]))

    def has_blob(self, digest: str) -> bool:
        return os.path.isfile(self._blob_path(digest))

    def scratch_file(self) -> tuple[int, str]:
        """A new scratch file in the store's own tmp directory (same filesystem: renames are atomic)."""
        return tempfile.mkstemp(dir=self._tmp, suffix=".part")

    def commit_blob(self, scratch: str, digest: str) -> None:
        """Rename a verified, fsynced scratch file into place as blob `digest`."""
        os.replace(scratch, self._blob_path(digest))

    def unpack_blob(
        self,
        blob_digest: str,
        expected_diff_id: str,
        name: str = "",
        source: str = "",
        ready: Callable[[], None] | None = None,
    ) -> str:
        """Unpack a stored layer blob (its diff id checked against `expected_diff_id` when given).

        `source`: read the blob from this file instead, a verified download not in the store yet (its fsync
        still running); `ready()` puts that blob in place and is called before the layer is, so a layer is
        never in the store without its blob."""
        name = name or blob_digest
        key = expected_diff_id or blob_digest
        with self._lock:
            lock = self._layer_locks.setdefault(key, threading.Lock())
        with lock:
            if expected_diff_id and self.has_layer(expected_diff_id):  # unpacked meanwhile by another pull
                if ready is not None:
                    ready()
                return expected_diff_id
            scratch = tempfile.mkdtemp(dir=self._tmp)
            os.chmod(scratch, 0o755)
            try:
                with open(source or self._blob_path(blob_digest), "rb") as blob:
                    try:
                        diff_id, size = unpack_layer(blob, scratch)
                    except InvalidArgument as exc:
                        raise InvalidArgument(f"layer {name}: {exc}") from exc
                if expected_diff_id and diff_id != expected_diff_id:
                    raise InvalidArgument(f"layer {name}: content does not match its diff id {expected_diff_id}")
                if ready is not None:
                    ready()
                final = os.path.join(self._layers, diff_id[7:])
                if not os.path.isdir(final):
                    os.rename(scratch, final)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        with self._lock:
            self._layer_info[diff_id] = [size, blob_digest]
        return diff_id

    def _add_image(self, image: ArchiveImage, diff_ids: list[str]) -> str:
        config_digest = self._write_blob(image.config, image.config_digest)
        manifest = image.manifest if self._servable(image.manifest) else b""
        manifest = manifest or self._synthesize_manifest(config_digest, len(image.config), diff_ids)
        manifest_digest = self._write_blob(manifest)
        cfg = parse_image_config(image.config)
        with self._lock:
            if config_digest not in self._images:
                self._images[config_digest] = {
                    "layers": diff_ids,
                    "manifest": manifest_digest,
                    "created": cfg.created or time.time(),
                    "last_used": time.time(),
                }
        return config_digest

    def add_pulled_image(
        self,
        config: bytes,
        manifest: bytes,
        diff_ids: list[str],
        layer_blobs: list[str],
        tag: str,
        repo_digest: str,
        index: bytes = b"",
    ) -> ImageRecord:
        """Record an image whose layers are stored and unpacked already (a registry pull); tag it. `index`: the
        image index it was chosen from, kept so peers can serve the digest a service pins (the index's)."""
        config_digest = self._write_blob(config)
        manifest_digest = self._write_blob(manifest)
        index_digest = self._write_blob(index) if index else ""
        cfg = parse_image_config(config)
        if tuple(diff_ids) != cfg.diff_ids:
            raise InvalidArgument("the manifest's layers do not match the image config's diff ids")
        with self._lock:
            for diff_id, blob in zip(diff_ids, layer_blobs, strict=True):
                if diff_id not in self._layer_info:
                    size = _tree_size(os.path.join(self._layers, diff_id[7:]))
                    self._layer_info[diff_id] = [size, blob]
            rec = self._images.setdefault(
                config_digest,
                {
                    "layers": diff_ids,
                    "manifest": manifest_digest,
                    "created": cfg.created or time.time(),
                    "last_used": time.time(),
                },
            )
            digests = rec.setdefault("repo_digests", [])
            if repo_digest and repo_digest not in digests:
                digests.append(repo_digest)
            if index_digest and index_digest not in rec.get("indexes", []):
                rec.setdefault("indexes", []).append(index_digest)
            if tag:
                self._tags[reference.normalize(tag)] = config_digest
            self._save_index()
            return self._record(config_digest)

    def hold(self, names: list[str]) -> None:
        """Keep these blobs and layers from garbage collection until `release` (a pull in progress)."""
        with self._lock:
            for n in names:
                self._held[n] = self._held.get(n, 0) + 1

    def release(self, names: list[str]) -> None:
        with self._lock:
            for n in names:
                left = self._held.get(n, 0) - 1
                if left > 0:
                    self._held[n] = left
                else:
                    self._held.pop(n, None)

    def discard(self, blobs: list[str], layers: list[str]) -> None:
        """Remove blobs and unpacked layers a failed pull left, unless an image refers to them."""
        with self._lock:
            live_layers = {d for rec in self._images.values() for d in rec["layers"]} | set(self._held)
            live_blobs = self._record_blobs() | set(self._held)
            live_blobs |= {info[1] for d, info in self._layer_info.items() if d in live_layers}
            for d in layers:
                if d not in live_layers:
                    self._layer_info.pop(d, None)
                    shutil.rmtree(os.path.join(self._layers, d[7:]), ignore_errors=True)
            for b in blobs:
                if b not in live_blobs:
                    try:
                        os.unlink(self._blob_path(b))
                    except FileNotFoundError:
                        pass
            self._save_index()

    def _servable(self, manifest: bytes) -> bool:
        """Whether every layer blob an archive's own manifest names is stored (a layer unpacked before
        from another blob is not stored again): only then can peers be served that manifest."""
        if not manifest:
            return False
        try:
            layers = json.loads(manifest).get("layers") or []
            return all(self.has_blob(d["digest"]) for d in layers)
        except (ValueError, AttributeError, KeyError, TypeError):
            return False

    def _synthesize_manifest(self, config_digest: str, config_size: int, diff_ids: list[str]) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": _MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": self._layer_info[d][1],
                    "size": os.path.getsize(self._blob_path(self._layer_info[d][1])),
                }
                for d in diff_ids
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def _save_index(self, fsync: bool = True) -> None:
        doc = {"images": self._images, "tags": self._tags, "layers": self._layer_info}
        write_json(self._index_path, doc, fsync=fsync)

    # ----- tags and removal -----

    def tag(self, ref: str, new_ref: str) -> None:
        record = self.resolve(ref)
        with self._lock:
            self._tags[reference.normalize(new_ref)] = record.id
            self._save_index()

    def remove(self, ref: str, in_use: Callable[[str], bool], force: bool = False) -> list[str]:
        """Untag `ref`; delete the image once no tag and no container refers to it.

        Returns what was untagged and deleted, Docker-style (`Untagged: ...`, `Deleted: ...`).
        """
        with self._lock:
            record = self.resolve(ref)
            out: list[str] = []
            by_tag = ""
            try:
                by_tag = reference.normalize(ref)
            except InvalidArgument:
                pass
            if by_tag in self._tags and len(record.tags) > 1 and not force:
                del self._tags[by_tag]
                self._save_index()
                return [f"Untagged: {by_tag}"]
            if in_use(record.id) or record.id in self._held:
                raise Conflict(f"image {ref} is in use by a container; remove the container first (svc container rm)")
            if not by_tag and len(record.tags) > 1 and not force:
                raise Conflict(f"image {record.id[7:19]} has several tags; remove it by tag, or use --force")
            for t in record.tags:
                del self._tags[t]
                out.append(f"Untagged: {t}")
            self._drop([record.id])
            out.append(f"Deleted: {record.id}")
            return out

    # ----- use and garbage collection (the choice is imagegc's) -----

    def acquire(self, ref: str) -> ImageRecord:
        """Resolve `ref` for a container create: used now, and no removal takes it until `release([id])`."""
        with self._lock:
            record = self.resolve(ref)
            self._held[record.id] = self._held.get(record.id, 0) + 1
            now = time.time()
            self._images[record.id]["last_used"] = now
            # Advisory (GC's order; a restart may lose the last minute of use, nothing else), and
            # replacing index.json costs a few ms of disk wait: not at every container create.
            if now - self._use_saved.get(record.id, 0.0) >= USE_SAVE_SECONDS:
                self._use_saved[record.id] = now
                self._save_index(fsync=False)
            return record

    def gc_images(self) -> list[GcImage]:
        """Every image with its parts on disk and its last use, for imagegc's choice."""
        with self._lock:
            out = []
            for image_id, rec in self._images.items():
                parts = [(b, _file_size(self._blob_path(b))) for b in sorted(_own_blobs(image_id, rec))]
                for d in rec["layers"]:
                    size, blob = self._layer_info.get(d, [0, ""])
                    parts.append(("layer:" + d, size))
                    if blob:
                        parts.append((blob, _file_size(self._blob_path(blob))))
                tagged = any(i == image_id for i in self._tags.values()) or rec.get("repo_digests")
                last = rec.get("last_used", rec.get("created", 0.0))
                out.append(GcImage(image_id, tuple(parts), float(last), dangling=not tagged))
            return out

    def disk_usage(self) -> DiskUsage:
        """The file system holding the store."""
        st = os.statvfs(self.root)
        return DiskUsage(capacity=st.f_blocks * st.f_frsize, available=st.f_bavail * st.f_frsize)

    def store_bytes(self) -> int:
        """Bytes of every blob and unpacked layer."""
        with self._lock:
            layers = sum(info[0] for info in self._layer_info.values())
        return layers + sum(_file_size(os.path.join(self._blobs, n)) for n in os.listdir(self._blobs))

    def remove_unused(self, ids: list[str], in_use: Callable[[], set[str]]) -> tuple[list[tuple[str, str]], int]:
        """Remove these images, each unless it is in use (`in_use()`, asked under the lock) or held.

        Returns Docker's report, `("untagged", NAME)` and `("deleted", ID)` in order, and the bytes freed."""
        with self._lock:
            used = in_use()
            items: list[tuple[str, str]] = []
            gone = []
            for image_id in ids:
                if image_id not in self._images or image_id in self._held or image_id in used:
                    continue
                for t in sorted(t for t, i in self._tags.items() if i == image_id):
                    del self._tags[t]
                    items.append(("untagged", t))
                items += [("untagged", d) for d in self._images[image_id].get("repo_digests", [])]
                items.append(("deleted", image_id))
                gone.append(image_id)
            return items, self._drop(gone) if gone else 0

    def _drop(self, ids: list[str]) -> int:
        """Delete these records, then those of their blobs and layers no other image and no hold refers to.

        The index is saved first: a crash in between leaves orphans (swept at the next open), never a
        record without its files. Returns the bytes freed. Caller holds the lock."""
        layers: set[str] = set()
        blobs: set[str] = set()
        for image_id in ids:
            rec = self._images.pop(image_id)
            blobs |= _own_blobs(image_id, rec)
            for d in rec["layers"]:
                layers.add(d)
                if d in self._layer_info:
                    blobs.add(self._layer_info[d][1])
        live_layers = {d for rec in self._images.values() for d in rec["layers"]} | set(self._held)
        live_blobs = self._record_blobs() | set(self._held)
        live_blobs |= {info[1] for d, info in self._layer_info.items() if d in live_layers}
        freed = 0
        dead_layers = sorted(layers - live_layers)
        for d in dead_layers:
            freed += self._layer_info.pop(d, [0])[0]
        self._save_index()
        for d in dead_layers:
            shutil.rmtree(os.path.join(self._layers, d[7:]), ignore_errors=True)
        for b in sorted(blobs - live_blobs):
            freed += _file_size(self._blob_path(b))
            try:
                os.unlink(self._blob_path(b))
            except FileNotFoundError:
                pass
        return freed

    def _record_blobs(self) -> set[str]:
        """The config, manifest and index blobs of every record. Caller holds the lock (or the store is opening)."""
        return {b for image_id, rec in self._images.items() for b in _own_blobs(image_id, rec)}

    def _sweep_orphans(self) -> None:
        """At open (nothing in progress): delete blobs and layers no record refers to."""
        live_layers = {d for rec in self._images.values() for d in rec["layers"]}
        live_blobs = self._record_blobs()
        live_blobs |= {self._layer_info[d][1] for d in live_layers if d in self._layer_info}
        stale = [d for d in self._layer_info if d not in live_layers]
        for d in stale:
            del self._layer_info[d]
        if stale:
            self._save_index()
        for name in os.listdir(self._layers):
            if "sha256:" + name not in live_layers:
                shutil.rmtree(os.path.join(self._layers, name), ignore_errors=True)
        for name in os.listdir(self._blobs):
            if "sha256:" + name not in live_blobs:
                os.unlink(os.path.join(self._blobs, name))


def _own_blobs(image_id: str, rec: dict) -> set[str]:
    """An image record's own blobs: its config, its manifest, and the index it was pulled through (if any)."""
    return {image_id, rec["manifest"], *rec.get("indexes", [])}


def _tag_forms(ref: str) -> list[str]:
    """The names a tag may be kept under: `team/app:1` as typed and as pulled (`docker.io/team/app:1`)."""
    out = []
    try:
        out.append(reference.normalize(ref))
    except InvalidArgument:
        pass
    try:
        parsed = registryref.parse(ref)
        if not parsed.digest and reference.normalize(parsed.tagged()) not in out:
            out.append(reference.normalize(parsed.tagged()))
    except InvalidArgument:
        pass
    return out


def _tree_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
