"""`svc volume ...` on this node: the store (volumes.py) with the engine's knowledge of who uses what.

The rule: a volume any container (in any state) names is in use; `rm` refuses it naming the
container, `prune` leaves it. The check and the removal happen under the engine's lock, which
`create` holds while it records a container, so no container starts on a volume being removed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from svc.errors import Conflict, NotFound

from .volumes import Volume, VolumeStore


@dataclass(frozen=True)
class VolumeView:
    volume: Volume
    containers: list[str]  # ids of the containers that use it


class Volumes:
    def __init__(
        self, store: VolumeStore, users: Callable[[], dict[str, list[tuple[str, str]]]], lock: threading.RLock
    ) -> None:
        self.store = store
        self._users = users  # volume name -> [(container id, container name)]
        self._lock = lock

    def _view(self, v: Volume, users: dict[str, list[tuple[str, str]]]) -> VolumeView:
        return VolumeView(v, [cid for cid, _ in users.get(v.name, [])])

    def create(self, name: str, labels: dict[str, str]) -> VolumeView:
        v, _ = self.store.create(name, labels)
        return self._view(v, self._users())

    def ls(self) -> list[VolumeView]:
        users = self._users()
        return [self._view(v, users) for v in self.store.all()]

    def inspect(self, name: str) -> VolumeView:
        return self._view(self.store.get(name), self._users())

    def remove(self, name: str, force: bool = False) -> None:
        with self._lock:
            users = self._users().get(name, [])
            if users:
                cid, cname = users[0]
                more = f" (and {len(users) - 1} more)" if len(users) > 1 else ""
                raise Conflict(f"volume {name} is in use by container {cname} ({cid[:12]}){more}: remove it first")
            try:
                self.store.remove(name)
            except NotFound:
                if not force:
                    raise

    def forget(self, name: str, cid: str) -> None:
        """A volume made by container `cid`'s failed start: removed unless another container names it."""
        with self._lock:
            if all(user == cid for user, _ in self._users().get(name, [])):
                with contextlib.suppress(NotFound):
                    self.store.remove(name)

    def prune(self) -> tuple[list[str], int]:
        """Every volume no container uses: (names, bytes freed)."""
        deleted, freed = [], 0
        with self._lock:
            users = self._users()
            for v in self.store.all():
                if v.name not in users:
                    freed += self.store.remove(v.name)
                    deleted.append(v.name)
        return deleted, freed
