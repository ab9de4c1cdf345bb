"""Bridges between blocking code and asyncio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(make: Callable[[threading.Event], Iterator[T]], buffer: int = 256) -> AsyncIterator[T]:
    """Run a blocking iterator in a thread and yield its items.

    `make` receives an Event that is set when the consumer goes away (a cancelled
    stream); a long-polling iterator should check it and return.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(buffer)
    stop = threading.Event()

    def put(item: object) -> None:
        fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        while not stop.is_set():
            try:
                fut.result(timeout=0.5)
                return
            except TimeoutError:
                continue
        fut.cancel()

    def pump() -> None:
        try:
            for item in make(stop):
                if stop.is_set():
                    break
                put(item)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            put(_DONE)

    worker = threading.Thread(target=pump, name="iterate-in-thread", daemon=True)
    worker.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
