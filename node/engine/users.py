"""Resolve `user`, `user:group`, `uid`, `uid:gid` against the container's /etc/passwd and /etc/group.

The files are read from the container's root without following symlinks: an image must
not be able to make the daemon read a file of the host.
"""

from __future__ import annotations

import os
import stat

from svc.errors import InvalidArgument


def _read_in_root(root: str, rel: str) -> list[list[str]]:
    path = root
    for part in rel.strip("/").split("/"):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return []
        if stat.S_ISLNK(st.st_mode):
            return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]


def resolve_user(root: str, user: str) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for `user` inside the rootfs at `root`."""
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    passwd = _read_in_root(root, "etc/passwd")
    uid: int | None = None
    gid = 0
    if name.isdigit():
        uid = int(name)
        for entry in passwd:
            if len(entry) >= 4 and entry[2] == name and entry[3].isdigit():
                gid = int(entry[3])
                break
    else:
        for entry in passwd:
            if len(entry) >= 4 and entry[0] == name and entry[2].isdigit() and entry[3].isdigit():
                uid, gid = int(entry[2]), int(entry[3])
                break
        if uid is None:
            raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    groups = _read_in_root(root, "etc/group")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            match = [g for g in groups if len(g) >= 3 and g[0] == group and g[2].isdigit()]
            if not match:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            gid = int(match[0][2])
    extra = []
    if not name.isdigit():
        for g in groups:
            if len(g) >= 4 and g[2].isdigit() and name in g[3].split(","):
                extra.append(int(g[2]))
    return uid, gid, sorted(set(extra) - {gid})
