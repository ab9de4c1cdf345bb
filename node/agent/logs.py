"""Answer the leader's log subscriptions: stream the named tasks' output with PublishLogs."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from svc.aioutil import iterate_in_thread
from svc.v1 import dispatcher_pb2 as dpb

from . import reconcile
from .engineapi import EngineAPI

log = logging.getLogger(__name__)


class LogPublisher:
    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine
        self._running: dict[str, asyncio.Task[Any]] = {}

    def handle(self, stub: Any, session_id: str, sub: dpb.LogSubscription) -> None:
        if sub.cancel:
            task = self._running.pop(sub.id, None)
            if task is not None:
                task.cancel()
            return
        self._running[sub.id] = asyncio.create_task(self._publish(stub, session_id, sub))

    def cancel_all(self) -> None:
        for task in self._running.values():
            task.cancel()
        self._running.clear()

    async def _publish(self, stub: Any, session_id: str, sub: dpb.LogSubscription) -> None:
        try:
            await stub.PublishLogs(self._messages(session_id, sub))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("log subscription %s ended: %s", sub.id[:8], exc)
        finally:
            self._running.pop(sub.id, None)

    async def _messages(self, session_id: str, sub: dpb.LogSubscription) -> AsyncIterator[dpb.PublishLogsMessage]:
        yield dpb.PublishLogsMessage(session_id=session_id, subscription_id=sub.id)  # opens the stream
        wanted = set(sub.task_ids)
        containers = [
            c
            for c in await asyncio.to_thread(self.engine.containers, True)
            if c.spec.labels.get(reconcile.TASK_LABEL) in wanted
        ]
        queue: asyncio.Queue[dpb.PublishLogsMessage | None] = asyncio.Queue(1024)
        readers = [asyncio.create_task(self._read(c, sub, session_id, queue)) for c in containers]
        remaining = len(readers)
        try:
            while remaining:
                item = await queue.get()
                if item is None:
                    remaining -= 1
                else:
                    yield item
        finally:
            for r in readers:
                r.cancel()

    async def _read(
        self,
        container: Any,
        sub: dpb.LogSubscription,
        session_id: str,
        queue: asyncio.Queue[dpb.PublishLogsMessage | None],
    ) -> None:
        task_id = container.spec.labels.get(reconcile.TASK_LABEL, "")

        def lines(stop: threading.Event) -> Any:
            return self.engine.logs(container.id, sub.follow, sub.tail, stop=stop)

        try:
            async for entry in iterate_in_thread(lines):
                await queue.put(
                    dpb.PublishLogsMessage(
                        session_id=session_id,
                        subscription_id=sub.id,
                        task_id=task_id,
                        time=entry.time,
                        stream=entry.stream,
                        data=entry.data,
                    )
                )
        except Exception as exc:
            log.info("reading logs of %s: %s", container.id[:12], exc)
        finally:
            await queue.put(None)
