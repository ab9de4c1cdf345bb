"""Image garbage collection on a node: `svc image prune` and the automatic high-water-mark collection.

Rule: what is in use is asked at the moment of removal, under the store's lock (`in_use`: an image a
container of any state was created from, or one a task assigned to this node needs); imagegc's pure
rules choose, the store removes. One thread checks the disk every IMAGE_GC_PERIOD_SECONDS and when
woken (after an import or a pull); a prune and a collection never run at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from svc import defaults

from . import imagegc
from .images import ImageStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GcPolicy:
    high: float = defaults.IMAGE_GC_HIGH_THRESHOLD_PERCENT
    low: float = defaults.IMAGE_GC_LOW_THRESHOLD_PERCENT
    min_age: float = defaults.IMAGE_GC_MIN_AGE_SECONDS
    period: float = defaults.IMAGE_GC_PERIOD_SECONDS


@dataclass(frozen=True)
class Pruned:
    items: list[tuple[str, str]]  # ("untagged", NAME) / ("deleted", ID), Docker's order
    reclaimed: int


class ImageCollector:
    def __init__(self, store: ImageStore, in_use: Callable[[], set[str]], policy: GcPolicy) -> None:
        imagegc.check_thresholds(policy.high, policy.low, policy.min_age)
        self.store = store
        self.in_use = in_use  # image ids in use now
        self.policy = policy
        self.runs = 0  # automatic collections that removed something, and prunes
        self.reclaimed_bytes = 0
        self._one = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="image-gc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """Check the disk now (an image was added)."""
        self._wake.set()

    def prune(self, all: bool) -> Pruned:
        with self._one:
            ids = imagegc.prune(self.store.gc_images(), self.in_use(), all)
            return self._remove(ids)

    def collect(self) -> Pruned:
        """One automatic check: below the high-water mark it removes nothing."""
        with self._one:
            p = self.policy
            plan = imagegc.plan(
                self.store.disk_usage(), self.store.gc_images(), self.in_use(), p.high, p.low, time.time(), p.min_age
            )
            if not plan.remove:
                return Pruned([], 0)
            done = self._remove(list(plan.remove))
            log.info(
                "image GC: disk past %g%%: removed %d images, %d bytes reclaimed (%d wanted)",
                p.high,
                sum(k == "deleted" for k, _ in done.items),
                done.reclaimed,
                plan.to_free,
            )
            return done

    def _remove(self, ids: list[str]) -> Pruned:
        items, reclaimed = self.store.remove_unused(ids, self.in_use)
        if items:
            self.runs += 1
            self.reclaimed_bytes += reclaimed
        return Pruned(items, reclaimed)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.collect()
            except Exception:  # a thread has no one to raise to; the next period tries again
                log.exception("image garbage collection")
            self._wake.wait(self.policy.period)
            self._wake.clear()
