"""Named local volumes on this node, and the host checks of a container's mounts.

A volume is `<data dir>/volumes/<name>/_data` beside `volume.json` (driver local, labels, created
time, whether it has been populated). It is made on first use (or by `svc volume create`) and kept
until `rm`/`prune`: a task replaced on this node finds its data again. The copy-up rule (Docker's):
the image's content at the mount point is copied into the volume on the volume's first mount, only
if the volume is still empty; later mounts never copy. The store knows nothing of containers: the
engine says which volumes are in use.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from svc.errors import InvalidArgument, NotFound
from svc.mountspec import validate_mount
from svc.v1 import container_pb2 as pb

RECORD = "volume.json"


@dataclass
class Volume:
    name: str
    mountpoint: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    populated: bool = False  # the first mount has happened (copy-up is done or was not needed)
    driver: str = "local"


def should_copy_up(populated: bool, volume_empty: bool, image_has_content: bool) -> bool:
    """Docker's rule: a volume's first mount copies the image's content there into it, if it is empty."""
    return not populated and volume_empty and image_has_content


class VolumeStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.RLock()
        os.makedirs(root, mode=0o700, exist_ok=True)

    def _dir(self, name: str) -> str:
        validate_mount(pb.Mount(type="volume", source=name, target="/x"), name)
        return os.path.join(self.root, name)

    def _load(self, name: str) -> Volume | None:
        directory = self._dir(name)
        try:
            with open(os.path.join(directory, RECORD)) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        return Volume(
            name=name,
            mountpoint=os.path.join(directory, "_data"),
            labels=dict(doc.get("labels", {})),
            created_at=float(doc.get("created_at", 0.0)),
            populated=bool(doc.get("populated", False)),
        )

    def _save(self, v: Volume) -> None:
        directory = os.path.dirname(v.mountpoint)
        doc = {"driver": v.driver, "labels": v.labels, "created_at": v.created_at, "populated": v.populated}
        tmp = os.path.join(directory, RECORD + ".tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(directory, RECORD))

    def get(self, name: str) -> Volume:
        v = self._load(name)
        if v is None:
            raise NotFound(f"no such volume: {name}")
        return v

    def create(self, name: str, labels: dict[str, str] | None = None) -> tuple[Volume, bool]:
        """The volume, made now if it does not exist (labels only then); (volume, made now)."""
        with self._lock:
            existing = self._load(name)
            if existing is not None:
                return existing, False
            directory = self._dir(name)
            shutil.rmtree(directory, ignore_errors=True)  # a create cut short before its record
            os.makedirs(os.path.join(directory, "_data"), mode=0o755)
            v = Volume(name, os.path.join(directory, "_data"), dict(labels or {}), time.time())
            self._save(v)
            return v, True

    def all(self) -> list[Volume]:
        out = []
        with contextlib.suppress(FileNotFoundError):
            for name in sorted(os.listdir(self.root)):
                with contextlib.suppress(InvalidArgument):
                    v = self._load(name)
                    if v is not None:
                        out.append(v)
        return out

    def remove(self, name: str) -> int:
        """Delete the volume and its data (the caller checked it is unused); the bytes freed."""
        with self._lock:
            v = self.get(name)
            size = _du(v.mountpoint)
            os.unlink(os.path.join(self.root, name, RECORD))  # first: a half-removed dir is no volume
            shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
            return size

    def populate(self, name: str, source: str | None) -> None:
        """On every mount: the first one copies `source` (the image's content at the target, if any)."""
        with self._lock:
            v = self.get(name)
            if v.populated:
                return
            has_content = source is not None and os.path.isdir(source) and bool(os.listdir(source))
            if source is not None and should_copy_up(v.populated, not os.listdir(v.mountpoint), has_content):
                copy_tree(source, v.mountpoint)
            v.populated = True
            self._save(v)


def copy_tree(src: str, dst: str) -> None:
    """Copy `src` into the existing dir `dst`: files, dirs, symlinks, with owners and modes."""
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            os.symlink(os.readlink(s), d)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(d)
            copy_tree(s, d)
        elif entry.is_file(follow_symlinks=False):
            shutil.copy2(s, d, follow_symlinks=False)
        else:
            continue  # devices, fifos, sockets: not copied
        os.lchown(d, st.st_uid, st.st_gid)
        if not entry.is_symlink():
            os.chmod(d, st.st_mode & 0o7777)
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)


def _du(path: str) -> int:
    total = 0
    for base, _, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, n)).st_size
    return total


def inside_rootfs(rootfs: str, target: str) -> str | None:
    """The path of `target` in a mounted root, if it resolves inside it (image symlinks stay in)."""
    path = os.path.realpath(os.path.join(rootfs, target.lstrip("/")))
    root = os.path.realpath(rootfs)
    return path if path == root or path.startswith(root + "/") else None


def check_binds(mounts: list[pb.Mount], forbidden: list[str]) -> None:
    """Bind sources exist and are not inside svc's own dirs (data, run): one line naming the mount."""
    for m in mounts:
        if m.type != "bind":
            continue
        real = os.path.realpath(m.source)
        if not os.path.exists(real):
            raise InvalidArgument(f"invalid mount {m.source}:{m.target}: bind source path does not exist: {m.source}")
        for d in forbidden:
            top = os.path.realpath(d)
            if real == top or real.startswith(top.rstrip("/") + "/"):
                raise InvalidArgument(
                    f"invalid mount {m.source}:{m.target}: bind source {m.source} is inside svc's own directory {d}"
                )


def _depth(m: pb.Mount) -> int:
    return len([p for p in os.path.normpath(m.target).split("/") if p])


def oci_mounts(mounts: list[pb.Mount], rootfs: str, store: VolumeStore, created: list[str]) -> list[dict[str, Any]]:
    """The OCI mount entries of a container's mounts, parents before children (Docker sorts them
    so); named volumes made now (their names appended to `created`) and populated on the way."""
    out: list[dict[str, Any]] = []
    for m in sorted(mounts, key=_depth):
        ro = ["ro"] if m.read_only else []
        if m.type == "tmpfs":
            opts = ["nosuid", "nodev", "noexec", f"mode={m.tmpfs_mode or 0o1777:o}"]
            opts += [f"size={m.tmpfs_size_bytes}"] if m.tmpfs_size_bytes else []
            out.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            continue
        source = m.source
        if m.type == "volume":
            v, made = store.create(m.source, dict(m.volume_labels))
            if made:
                created.append(v.name)
            store.populate(v.name, inside_rootfs(rootfs, m.target))
            source = v.mountpoint
        out.append({"destination": m.target, "type": "bind", "source": source, "options": ["rbind", "rprivate", *ro]})
    return out
