"""A task's secrets and configs as files: on a tmpfs of the container's own, bind-mounted in read-only.

The rule: a value is never written to the node's disk. The engine gets the values in memory (by
id, from the agent) and writes them only into a tmpfs mounted at `<run dir>/taskfiles/<container
id>` — outside the data dir, so not even a search of the data dir meets the mount while it lives —
each file with its reference's uid, gid and mode; the container sees each at its target through a
read-only bind mount. The container's record holds the references (ids, targets), never a value.
The tmpfs goes when the container stops or is removed; one left by a crash is swept at start-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping

from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

from .mounts import mount_tmpfs, unmount

Bind = tuple[str, str, bool]


class TaskFiles:
    def __init__(self, root: str) -> None:
        self.root = root

    def _dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def mount(self, cid: str, spec: pb.ContainerSpec, values: Mapping[str, bytes]) -> list[Bind]:
        """Mount the container's tmpfs and write its files; the binds for its bundle. Nothing when
        the spec references no secret or config; undone by `unmount` if anything fails."""
        refs = [("secret", r) for r in spec.secrets] + [("config", r) for r in spec.configs]
        if not refs:
            return []
        for kind, r in refs:
            if r.id not in values:
                raise InvalidArgument(
                    f"the value of {kind} {r.name or r.id} is not on this node (only a task's assignment brings it): "
                    "remove the container; its task runs again with it"
                )
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        directory = self._dir(cid)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        size = sum(len(values[r.id]) for _, r in refs) + 4096 * (len(refs) + 1)
        binds: list[Bind] = []
        try:
            mount_tmpfs(directory, f"mode=0700,size={size}")
            for i, (kind, r) in enumerate(refs):
                path = os.path.join(directory, f"{kind}-{i}")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                try:
                    os.write(fd, values[r.id])
                    os.fchown(fd, r.uid, r.gid)
                    os.fchmod(fd, r.mode)
                finally:
                    os.close(fd)
                binds.append((path, r.target, True))
        except BaseException:
            self.unmount(cid)
            raise
        return binds

    def unmount(self, cid: str) -> None:
        """Idempotent: unmount (lazily if busy) and remove the mount point."""
        directory = self._dir(cid)
        if not os.path.isdir(directory):
            return
        unmount(directory)
        with contextlib.suppress(OSError):
            os.rmdir(directory)

    def sweep(self, keep: Iterable[str]) -> None:
        """Unmount what belongs to no running container (a crash between mount and record)."""
        kept = set(keep)
        with contextlib.suppress(FileNotFoundError):
            for cid in os.listdir(self.root):
                if cid not in kept:
                    self.unmount(cid)
