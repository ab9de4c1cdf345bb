"""A dependency-free latency recorder: code that must not know Prometheus records here,
and a metrics collector turns it into histograms at scrape time."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LatencyRecorder:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self._lock = threading.Lock()
        self._data: dict[str, tuple[list[int], float]] = {}  # name -> (counts per bucket + overflow, sum)

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            counts, total = self._data.get(name) or ([0] * (len(self.buckets) + 1), 0.0)
            counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self._data[name] = (counts, total + seconds)

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.observe(name, time.monotonic() - start)

    def snapshot(self) -> dict[str, tuple[list[tuple[str, int]], float]]:
        """name -> ([(le, cumulative count)...including +Inf], sum), ready for a histogram family."""
        out = {}
        with self._lock:
            items = {k: (list(v[0]), v[1]) for k, v in self._data.items()}
        for name, (counts, total) in items.items():
            cumulative, running = [], 0
            for le, n in zip([*map(str, self.buckets), "+Inf"], counts, strict=True):
                running += n
                cumulative.append((le, running))
            out[name] = (cumulative, total)
        return out
