"""A daemon's data dir: held by one daemon at a time, and saying what that daemon is.

Rule: a daemon learns its role from `<data dir>/role.json`, written when the role is taken
(a cluster initialised or joined, a promotion, a demotion), never from which other files
happen to exist. One data dir, one daemon: `svcd.lock` (flock, with the holder's pid) refuses
a second one at once.

Roles:
- manager:  `svcd manager` (a Raft member, runs no containers)
- node:     `svcd node --join` (a worker)
- up:       `svcd up` (a manager and a node in one process, one identity)
- promoted: `svcd node` whose node was promoted (its manager runs in the node's process)

`svcd node` without --join (the engine alone, as for cleaning up) runs on any data dir and
leaves the record as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from enum import StrEnum

from svc.errors import InvalidArgument, Unavailable
from svc.fsutil import write_json

ROLE_FILE = "role.json"
LOCK_FILE = "svcd.lock"
FORMAT = 1


class Role(StrEnum):
    MANAGER = "manager"
    NODE = "node"
    UP = "up"
    PROMOTED = "promoted"

    @property
    def runs_manager(self) -> bool:
        return self in (Role.MANAGER, Role.UP, Role.PROMOTED)

    @property
    def command(self) -> str:
        return {"manager": "svcd manager", "up": "svcd up"}.get(self.value, "svcd node")

    @property
    def description(self) -> str:
        return {
            "manager": "a manager",
            "node": "a worker node",
            "up": "a one-host cluster",
            "promoted": "a promoted node",
        }[self.value]


# Which recorded roles each command may run as.
ACCEPTS: dict[str, tuple[Role, ...]] = {
    "manager": (Role.MANAGER,),
    "up": (Role.UP,),
    "node": (Role.NODE, Role.PROMOTED),
}


def check_role(command: str, recorded: Role | None, data_dir: str) -> None:
    """Refuse a command on a data dir that belongs to another kind of daemon."""
    if recorded is None or recorded in ACCEPTS[command]:
        return
    raise InvalidArgument(
        f"{data_dir} is the data dir of {recorded.description}: run `{recorded.command}` with it, "
        "or give another --data-dir"
    )


class DataDir:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Hold the data dir for this process's life (the kernel drops the lock when it dies)."""
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd = os.open(os.path.join(self.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise Unavailable(f"data dir {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Unavailable(f"data dir {self.path} is in use by another svcd (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def role(self) -> Role | None:
        path = os.path.join(self.path, ROLE_FILE)
        try:
            with open(path, "rb") as f:
                doc = json.load(f)
            return Role(doc["role"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"{path} is unreadable or damaged ({exc}); it says which daemon this is") from None

    def set_role(self, role: Role) -> None:
        write_json(os.path.join(self.path, ROLE_FILE), {"format": FORMAT, "role": role.value}, mode=0o600)

    def legacy_role(self, command: str) -> Role | None:
        """Data dirs written before role.json existed: the role the command implies, once, if the dir
        holds a cluster's state. (A manager's state under `node` means a promoted node.)"""
        manager_state = os.path.exists(os.path.join(self.path, "manager", "state.json"))
        node_cert = os.path.exists(os.path.join(self.path, "node", "tls", "cert.pem"))
        if command == "up":
            return Role.UP if manager_state else None
        if command == "manager":
            return Role.MANAGER if manager_state else None
        if manager_state:
            return Role.PROMOTED
        return Role.NODE if node_cert else None
