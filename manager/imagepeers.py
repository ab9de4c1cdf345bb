"""Which nodes a node asks first for a task's image: peer distribution (issue #13 item 5).

Rules: only for an image pinned by digest (a tag is the registry's word). First the nodes whose
description lists the pinned `NAME@sha256:…` (holders, rotated by the task's node so a rollout spreads
its copies), then the nodes of live tasks of the same image created before this task, oldest first:
they are pulling it (their peer server waits for a blob it is still fetching) or hold it though their
description lags a heartbeat behind. "Created before" orders the waits, so two nodes never wait on each
other. Only ready nodes with a peer address, never the task's own node, at most PEER_MAX.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

from svc import defaults

from .scheduler import image_key
from .store.objects import NODE_READY, RUNNING, TaskObj, is_terminal
from .store.state import Snapshot


class ImagePeers:
    """Peers for the tasks of one assignment batch, from one snapshot (indexes built once per image)."""

    def __init__(self, snap: Snapshot, limit: int = defaults.PEER_MAX) -> None:
        self.snap = snap
        self.limit = limit
        self._holders: dict[str, list[str]] = {}  # image key -> node ids holding it, sorted
        self._tasks: dict[str, list[tuple[float, str, str]]] | None = None  # key -> (created, task id, node id)

    def _peer_addr(self, node_id: str) -> str:
        node = self.snap.nodes.get(node_id)
        if node is None or node.state != NODE_READY:
            return ""
        return node.description.peer_addr

    def _holders_of(self, key: str) -> list[str]:
        if key not in self._holders:
            self._holders[key] = sorted(n.id for n in self.snap.nodes.values() if key in n.description.images)
        return self._holders[key]

    def _tasks_of(self, key: str) -> list[tuple[float, str, str]]:
        if self._tasks is None:
            self._tasks = defaultdict(list)
            for t in self.snap.tasks.values():
                if t.node_id and t.desired_state == RUNNING and not is_terminal(t.state) and "@" in t.spec.image:
                    self._tasks[image_key(t.spec.image)].append((t.created_at, t.id, t.node_id))
            for entries in self._tasks.values():
                entries.sort()
        return self._tasks.get(key, [])

    def for_task(self, task: TaskObj) -> list[str]:
        if "@" not in task.spec.image or not task.node_id:
            return []
        key = image_key(task.spec.image)
        holders = [n for n in self._holders_of(key) if n != task.node_id]
        if holders:
            turn = zlib.crc32(task.node_id.encode()) % len(holders)
            holders = holders[turn:] + holders[:turn]
        out: list[str] = []

        def add(node_id: str) -> bool:
            addr = self._peer_addr(node_id) if node_id != task.node_id else ""
            if addr and addr not in out:
                out.append(addr)
            return len(out) >= self.limit

        for node_id in holders:
            if add(node_id):
                return out
        # Oldest first, and only until the list is full: a wave of 10,000 tasks of one image must
        # not cost a scan of all of them per task.
        me = (task.created_at, task.id)
        for created, tid, node_id in self._tasks_of(key):
            if (created, tid) >= me or add(node_id):
                break
        return out
