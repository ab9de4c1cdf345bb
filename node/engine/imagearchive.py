"""Read image archives: `docker save` tarballs, OCI image layouts, plain rootfs tarballs.

Nothing here writes to disk. Names inside an archive (manifest.json, index.json) are
looked up among the archive's own members only, so a hostile name cannot reach the
host's filesystem; symlinks between members (old `docker save` deduplicates layers
that way) are followed inside the archive with a hop limit.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from svc.errors import InvalidArgument

from .imageconfig import host_architecture

MAX_METADATA_BYTES = 16 << 20
_REF_NAME = "org.opencontainers.image.ref.name"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass
class LayerSource:
    open: Callable[[], IO[bytes]]
    digest: str = ""  # expected blob digest, when the archive states one
    name: str = ""  # where it is in the archive, for error messages


@dataclass
class ArchiveImage:
    config: bytes
    layers: list[LayerSource]
    tags: list[str] = field(default_factory=list)
    manifest: bytes = b""  # the manifest bytes as received (OCI); empty for docker-save
    config_digest: str = ""  # expected config digest, when the archive states one


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


class ImageArchive:
    """An open archive; use as a context manager. `kind` is docker-save, oci or rootfs."""

    def __init__(self, path: str) -> None:
        try:
            self._tar = tarfile.open(path, "r:*")
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArgument(f"{path}: not a readable tar archive ({exc})") from exc
        self._members = {_clean(m.name): m for m in members}
        if "manifest.json" in self._members:
            self.kind = "docker-save"
        elif "oci-layout" in self._members and "index.json" in self._members:
            self.kind = "oci"
        else:
            self.kind = "rootfs"

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tar.close()

    def _member(self, name: str, hops: int = 0) -> tarfile.TarInfo:
        key = _clean(name)
        member = self._members.get(key)
        if member is None:
            raise InvalidArgument(f"archive has no entry {name!r}")
        if member.issym() or member.islnk():
            if hops > 8:
                raise InvalidArgument(f"archive entry {name!r}: too many links")
            target = member.linkname
            if member.issym():
                target = posixpath.join(posixpath.dirname(key), target)
            return self._member(target, hops + 1)
        if not member.isreg():
            raise InvalidArgument(f"archive entry {name!r} is not a file")
        return member

    def _opener(self, name: str) -> Callable[[], IO[bytes]]:
        member = self._member(name)

        def open_member() -> IO[bytes]:
            f = self._tar.extractfile(member)
            if f is None:
                raise InvalidArgument(f"archive entry {name!r} cannot be read")
            return f

        return open_member

    def _read(self, name: str) -> bytes:
        member = self._member(name)
        if member.size > MAX_METADATA_BYTES:
            raise InvalidArgument(f"archive entry {name!r} is too large for metadata")
        return self._opener(name)().read()

    def _json(self, name: str) -> Any:
        try:
            return json.loads(self._read(name))
        except ValueError as exc:
            raise InvalidArgument(f"archive entry {name!r} is not valid JSON") from exc

    def images(self) -> list[ArchiveImage]:
        if self.kind == "docker-save":
            return self._docker_save()
        if self.kind == "oci":
            return self._oci()
        return []

    def rootfs_opener(self, path: str) -> Callable[[], IO[bytes]]:
        """The whole archive as one layer (the rootfs import case)."""
        return lambda: open(path, "rb")

    def _docker_save(self) -> list[ArchiveImage]:
        manifest = self._json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise InvalidArgument("manifest.json must be a non-empty list")
        out = []
        for entry in manifest:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                raise InvalidArgument("manifest.json: each entry needs a Config")
            layers = entry.get("Layers") or []
            if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
                raise InvalidArgument("manifest.json: Layers must be a list of paths")
            tags = entry.get("RepoTags") or []
            config_name = entry["Config"]
            expected = ""
            if config_name.startswith("blobs/sha256/"):
                expected = "sha256:" + config_name.rsplit("/", 1)[-1]
            out.append(
                ArchiveImage(
                    config=self._read(config_name),
                    layers=[LayerSource(self._opener(name), name=name) for name in layers],
                    tags=[t for t in tags if isinstance(t, str)],
                    config_digest=expected,
                )
            )
        return out

    def _blob_name(self, digest: Any) -> str:
        if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
            raise InvalidArgument(f"OCI layout: bad digest {digest!r}")
        return "blobs/sha256/" + digest[7:]

    def _oci(self) -> list[ArchiveImage]:
        index = self._json("index.json")
        out = []
        for desc in (index.get("manifests") or []) if isinstance(index, dict) else []:
            tags = []
            ref = (desc.get("annotations") or {}).get(_REF_NAME)
            if isinstance(ref, str) and ref:
                tags.append(ref)
            manifest_desc = self._pick_platform(desc)
            raw = self._read(self._blob_name(manifest_desc.get("digest")))
            manifest = json.loads(raw)
            config_desc = manifest.get("config") or {}
            layers = [
                LayerSource(self._opener(self._blob_name(d.get("digest"))), digest=d["digest"], name=d["digest"])
                for d in manifest.get("layers") or []
            ]
            out.append(
                ArchiveImage(
                    config=self._read(self._blob_name(config_desc.get("digest"))),
                    layers=layers,
                    tags=tags,
                    manifest=raw,
                    config_digest=config_desc["digest"],
                )
            )
        if not out:
            raise InvalidArgument("OCI layout: index.json lists no manifests")
        return out

    def _pick_platform(self, desc: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        """Follow image indexes down to the manifest for this host's platform."""
        if desc.get("mediaType") not in _INDEX_TYPES:
            return desc
        if depth > 4:
            raise InvalidArgument("OCI layout: image indexes nest too deeply")
        index = self._json(self._blob_name(desc.get("digest")))
        arch = host_architecture()
        candidates = index.get("manifests") or []
        for child in candidates:
            plat = child.get("platform") or {}
            if plat.get("architecture") == arch and plat.get("os", "linux") == "linux":
                return self._pick_platform(child, depth + 1)
        raise InvalidArgument(f"OCI layout: no manifest for linux/{arch}")
