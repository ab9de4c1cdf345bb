"""Build test images from the host's static busybox: rootfs tarballs, `docker save` archives, OCI layouts.

Everything is generated with tarfile in a temporary directory; nothing is fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def busybox_applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return [a for a in out if a != "busybox"]


@dataclass
class Entry:
    """One tar entry: a file (data), a directory, a symlink or a hard link."""

    name: str
    data: bytes | None = None
    mode: int = 0o644
    kind: str = "file"  # file, dir, symlink, link
    target: str = ""
    uid: int = 0
    gid: int = 0


def busybox_entries() -> list[Entry]:
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    entries = [Entry("bin", kind="dir", mode=0o755), Entry("bin/busybox", binary, 0o755)]
    entries += [Entry(f"bin/{a}", kind="symlink", target="busybox") for a in busybox_applets()]
    entries += [
        Entry("etc", kind="dir", mode=0o755),
        Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
        Entry("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
        Entry("tmp", kind="dir", mode=0o1777),
        Entry("root", kind="dir", mode=0o700),
        Entry("www", kind="dir", mode=0o755),
        Entry("www/index.html", b"hello from svc\n"),
    ]
    return entries


def tar_bytes(entries: Iterable[Entry], compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, 1_700_000_000
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            elif e.kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, e.target
                tar.addfile(info)
            else:
                data = e.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageSpec:
    layers: list[list[Entry]]
    config: dict = field(default_factory=dict)  # the "config" section: Env, Cmd, Healthcheck...
    tag: str = "busybox:latest"


def _config_doc(spec: ImageSpec, diff_ids: list[str]) -> bytes:
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}
    cfg.update(spec.config)
    doc = {
        "architecture": "amd64" if os.uname().machine == "x86_64" else "arm64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(doc, sort_keys=True).encode()


def write_rootfs_tar(path: str, entries: list[Entry] | None = None) -> str:
    with open(path, "wb") as f:
        f.write(tar_bytes(entries if entries is not None else busybox_entries()))
    return path


def write_docker_save(path: str, spec: ImageSpec) -> str:
    """A `docker save` archive: manifest.json, <config>.json, <n>/layer.tar."""
    layer_tars = [tar_bytes(layer) for layer in spec.layers]
    diff_ids = [sha256(t) for t in layer_tars]
    config = _config_doc(spec, diff_ids)
    files: list[Entry] = []
    names = []
    for i, t in enumerate(layer_tars):
        d = hashlib.sha256(f"{i}{diff_ids[i]}".encode()).hexdigest()
        files += [Entry(d, kind="dir", mode=0o755), Entry(f"{d}/layer.tar", t), Entry(f"{d}/VERSION", b"1.0")]
        names.append(f"{d}/layer.tar")
    config_name = sha256(config)[7:] + ".json"
    manifest = [{"Config": config_name, "RepoTags": [spec.tag] if spec.tag else [], "Layers": names}]
    files += [Entry(config_name, config), Entry("manifest.json", json.dumps(manifest).encode())]
    with open(path, "wb") as f:
        f.write(tar_bytes(files))
    return path


def write_oci_layout(path: str, spec: ImageSpec, gzip_layers: bool = True) -> str:
    """An OCI image-layout archive: oci-layout, index.json, blobs/sha256/..."""
    raw = [tar_bytes(layer) for layer in spec.layers]
    blobs_ = [gzip.compress(t, mtime=0) if gzip_layers else t for t in raw]
    config = _config_doc(spec, [sha256(t) for t in raw])
    media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else "")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [{"mediaType": media, "digest": sha256(b), "size": len(b)} for b in blobs_],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": spec.tag},
            }
        ],
    }
    files = [
        Entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        Entry("index.json", json.dumps(index).encode()),
        Entry("blobs", kind="dir", mode=0o755),
        Entry("blobs/sha256", kind="dir", mode=0o755),
    ]
    for blob in (*blobs_, config, manifest):
        files.append(Entry("blobs/sha256/" + sha256(blob)[7:], blob))
    with open(path, "wb") as f:
        f.write(tar_bytes(files))
    return path
