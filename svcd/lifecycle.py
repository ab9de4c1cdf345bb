"""How every svcd daemon lives: start, serve, stop — the same for each role.

Rules:
- SIGTERM and SIGINT stop a daemon at any point, start-up included: start-up runs as a task
  that a signal cancels. Every part registers its stop on one exit stack as soon as it is
  made, so whatever was made is unmade in reverse order, whether start-up finished or not.
- A stop that takes longer than the grace ends the process anyway; a second signal ends it
  at once. (Containers are not ours to stop: they keep running, as Docker's live restore.)
- A start-up failure is an SvcError with one line; the exit stack has already undone the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from svc import defaults, sdnotify

log = logging.getLogger("svcd")


class Context:
    """What a role's assembly gets: the exit stack to register stops on, and the stop event."""

    def __init__(self, stack: contextlib.AsyncExitStack, stop: asyncio.Event) -> None:
        self.stack = stack
        self.stop = stop

    def on_stop(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self.stack.push_async_callback(fn, *args)

    def on_stop_sync(self, fn: Callable[..., Any], *args: Any) -> None:
        """A blocking stop (joins a thread), run off the event loop."""
        self.stack.push_async_callback(asyncio.to_thread, fn, *args)


# An assembly builds a role's parts and returns what, besides a signal, ends the daemon (or None).
Assembly = Callable[[Context], Coroutine[Any, Any, "asyncio.Future[Any] | None"]]


async def serve(assemble: Assembly, executor_threads: int) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=executor_threads, thread_name_prefix="svcd"))
    stop = asyncio.Event()
    signals = _Signals(stop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, signals.received, sig)
    async with contextlib.AsyncExitStack() as stack:
        ctx = Context(stack, stop)
        starting: asyncio.Task[asyncio.Future[Any] | None] = asyncio.create_task(assemble(ctx), name="start-up")
        stopped = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stopping during start-up")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        if starting.exception() is not None:
            signals.arm_deadline()  # undoing a half-made start-up is bounded too
        end = starting.result()  # a start-up error leaves here; the stack undoes what was made
        sdnotify.notify("READY=1")
        waits: set[asyncio.Future[Any]] = {stopped} | ({end} if end is not None else set())
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        sdnotify.notify("STOPPING=1")
        signals.arm_deadline()  # an end without a signal (a demoted manager) is bounded too
    log.info("stopped")


class _Signals:
    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.count = 0
        self._armed = False

    def received(self, sig: int) -> None:
        self.count += 1
        if self.count > 1:
            log.warning("second %s: exiting now", signal.Signals(sig).name)
            os._exit(1)
        log.info("%s: stopping", signal.Signals(sig).name)
        self.stop.set()
        self.arm_deadline()

    def arm_deadline(self) -> None:
        if self._armed:
            return
        self._armed = True
        grace = defaults.DAEMON_STOP_GRACE_SECONDS

        def expire() -> None:
            log.error("did not stop within %.0f s: exiting", grace)
            os._exit(1)

        timer = threading.Timer(grace, expire)
        timer.daemon = True
        timer.start()
