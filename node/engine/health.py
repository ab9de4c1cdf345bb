"""Container health checks, as Docker runs them.

`next_health` is the pure rule: a passing probe makes the container healthy; a failing
one counts toward `retries` unless it falls in the start period while the container has
never been healthy; `retries` failures in a row make it unhealthy. `HealthMonitor` runs
the probes on one scheduler thread and a small pool of workers.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from svc import defaults

from .spec import HealthCheck

log = logging.getLogger(__name__)

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


@dataclass(frozen=True)
class Probe:
    start: float
    end: float
    exit_code: int
    output: str


@dataclass(frozen=True)
class HealthState:
    status: str = ""  # "" when the container has no health check
    failing_streak: int = 0
    log: tuple[Probe, ...] = field(default_factory=tuple)


def next_health(state: HealthState, probe: Probe, check: HealthCheck, started_at: float) -> HealthState:
    entries = (*state.log, probe)[-defaults.HEALTH_LOG_ENTRIES :]
    if probe.exit_code == 0:
        return HealthState(status=HEALTHY, failing_streak=0, log=entries)
    in_start_period = probe.start < started_at + check.start_period and state.status != HEALTHY
    if in_start_period:
        return replace(state, log=entries)
    streak = state.failing_streak + 1
    status = UNHEALTHY if streak >= check.retries else (state.status or STARTING)
    return HealthState(status=status, failing_streak=streak, log=entries)


ProbeFn = Callable[[str, HealthCheck], Probe]
ResultFn = Callable[[str, Probe], None]


class HealthMonitor:
    def __init__(self, probe: ProbeFn, on_result: ResultFn, workers: int = 4) -> None:
        self._probe = probe
        self._on_result = on_result
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health")
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []
        self._checks: dict[str, tuple[HealthCheck, int]] = {}
        self._generation = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="health-scheduler", daemon=True)
        self._thread.start()

    def watch(self, cid: str, check: HealthCheck) -> None:
        with self._cond:
            self._generation += 1
            self._checks[cid] = (check, self._generation)
            heapq.heappush(self._heap, (time.monotonic() + check.interval, self._generation, cid))
            self._cond.notify()

    def unwatch(self, cid: str) -> None:
        with self._cond:
            self._checks.pop(cid, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                due, gen, cid = self._heap[0]
                now = time.monotonic()
                if due > now:
                    self._cond.wait(due - now)
                    continue
                heapq.heappop(self._heap)
                entry = self._checks.get(cid)
                if entry is None or entry[1] != gen:
                    continue  # unwatched, or re-watched with a newer generation
                self._pool.submit(self._run_probe, cid, entry[0], gen)

    def _run_probe(self, cid: str, check: HealthCheck, gen: int) -> None:
        try:
            probe = self._probe(cid, check)
        except Exception as exc:  # a probe that cannot run is a failed probe, not a crash
            now = time.time()
            probe = Probe(start=now, end=now, exit_code=-1, output=str(exc))
        with self._cond:
            entry = self._checks.get(cid)
            if entry is None or entry[1] != gen:
                return
        try:
            self._on_result(cid, probe)
        except Exception:
            log.exception("recording a health probe of %s", cid)
        with self._cond:
            if cid in self._checks and self._checks[cid][1] == gen:
                heapq.heappush(self._heap, (time.monotonic() + check.interval, gen, cid))
                self._cond.notify()
