"""Run callbacks at deadlines on one thread (e.g. SIGKILL when a stop's grace period ends),
so that a hundred stopping containers hold one thread, not a hundred."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadlines:
    def __init__(self, name: str = "deadlines") -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []
        self._jobs: dict[str, tuple[int, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def at(self, key: str, when: float, fn: Callable[[], None]) -> None:
        """Run `fn` at monotonic time `when`; a later call with the same key replaces it."""
        with self._cond:
            seq = next(self._seq)
            self._jobs[key] = (seq, fn)
            heapq.heappush(self._heap, (when, seq, key))
            self._cond.notify()

    def cancel(self, key: str) -> None:
        with self._cond:
            self._jobs.pop(key, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._stopped:
                    return
                _, seq, key = heapq.heappop(self._heap)
                job = self._jobs.get(key)
                if job is None or job[0] != seq:
                    continue
                del self._jobs[key]
            try:
                job[1]()
            except Exception:
                log.exception("deadline job %s failed", key)
