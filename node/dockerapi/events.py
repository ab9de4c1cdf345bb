"""The engine's container events on the API's event loop: what waits, attaches and AutoRemove wait on.

The rule: the engine decides every state; this only counts what it reports (`exit`, `start`,
`remove`, from Engine.subscribe) so a waiter can ask "has it exited since I asked?" without a
thread per waiter. AutoRemove (`docker run --rm`) is the API's: a container created with it is
removed by the engine once it has exited and every attached stream has drained its output (or
when its start failed). The set is kept in `<node state>/docker-autoremove.json`, so one that
exited while the daemon was down is removed when it starts again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from typing import Any

from svc.errors import NotFound
from svc.fsutil import read_json, write_json

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 10.0  # the longest an exited AutoRemove container waits for its attached streams


class Events:
    def __init__(self, engine: Any, state_dir: str = "") -> None:
        self.engine = engine
        self._path = os.path.join(state_dir, "docker-autoremove.json") if state_dir else ""
        self.loop = asyncio.get_running_loop()
        self.exits: collections.Counter[str] = collections.Counter()
        self.starts: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.attached: collections.Counter[str] = collections.Counter()
        self.last_code: dict[str, int] = {}
        self.auto_remove: set[str] = set()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        engine.subscribe(self._from_engine)
        self._restore()

    def _restore(self) -> None:
        saved = read_json(self._path, []) if self._path else []
        for cid in saved if isinstance(saved, list) else []:
            try:
                c = self.engine.get(str(cid))
            except NotFound:
                continue
            self.auto_remove.add(c.id)
            if c.state == "exited":  # it exited while the daemon was down
                self._spawn(self._remove(c.id))
        self._save()

    def _save(self) -> None:
        if self._path:
            write_json(self._path, sorted(self.auto_remove), mode=0o600, fsync=False)

    def add_auto_remove(self, cid: str) -> None:
        self.auto_remove.add(cid)
        self._save()

    def _from_engine(self, event: Any) -> None:  # an engine thread
        if self.closed:
            return
        try:
            self.loop.call_soon_threadsafe(self._on, event.kind, event.container)
        except RuntimeError:  # the loop is gone: the daemon is stopping
            pass

    def _on(self, kind: str, c: Any) -> None:
        if kind == "exit":
            self.exits[c.id] += 1
            self.last_code[c.id] = c.exit_code
            if c.id in self.auto_remove:
                self._spawn(self._remove_when_drained(c.id))
        elif kind == "start":
            self.starts[c.id] += 1
        elif kind == "remove":
            self.last_code[c.id] = c.exit_code
            if c.id in self.auto_remove:
                self.auto_remove.discard(c.id)
                self._save()
            for counter in (self.exits, self.starts, self.failed):
                counter.pop(c.id, None)
            if len(self.last_code) > 1024:  # remembered for a late waiter; bounded
                for cid in list(self.last_code)[:512]:
                    del self.last_code[cid]
        self.notify()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float = 1.0) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def start_failed(self, cid: str) -> None:
        self.failed[cid] += 1
        if cid in self.auto_remove:
            self._spawn(self._remove(cid))
        self.notify()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _remove_when_drained(self, cid: str) -> None:
        deadline = self.loop.time() + _DRAIN_SECONDS
        while self.attached[cid] > 0 and self.loop.time() < deadline:
            await self.changed(0.2)
        await self._remove(cid)

    async def _remove(self, cid: str) -> None:
        try:
            await asyncio.to_thread(self.engine.remove, cid, True)
        except NotFound:
            pass
        except Exception as exc:
            log.warning("removing %s (AutoRemove): %s", cid[:12], exc)

    async def wait(self, cid: str, condition: str, since_exits: int, gone: Any) -> int:
        """The exit code once `condition` holds (not-running, next-exit, removed); `gone()` is true
        when the client went away (then -1)."""
        while not gone():
            try:
                c = self.engine.get(cid)
            except NotFound:
                return self.last_code.get(cid, 0)
            if condition == "not-running" and c.state != "running":
                return int(c.exit_code)
            if condition == "next-exit" and self.exits[cid] > since_exits and c.state != "running":
                return int(c.exit_code)
            await self.changed()
        return -1

    def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
