"""How long this manager's event loop could not run: the time it could not hear heartbeats either.

A leader saturated by a scale wave (planning 10,000 tasks, applying their writes) processes the
nodes' heartbeats late. Judged by the wall clock alone, healthy nodes then look silent and are
marked down — the 200-node benchmark's slow runs marked up to 96 of 200 nodes down mid-wave and
replaced their tasks, doubling the work. So silence is counted on this clock's terms: a ticker
expected every `tick` seconds that runs late adds the delay beyond `slack` to `total`, and the
dispatcher discounts the stall that happened since a node's last heartbeat. Pure: the caller
passes the time.
"""

from __future__ import annotations


class StallClock:
    def __init__(self, tick: float, slack: float) -> None:
        self.tick_seconds = tick
        self.slack = slack
        self.total = 0.0
        self._expected: float | None = None

    def tick(self, now: float) -> None:
        """Called by a timer asked for every `tick` seconds; a late call is stall."""
        if self._expected is not None and now > self._expected + self.slack:
            self.total += now - self._expected
        self._expected = now + self.tick_seconds

    def reset(self) -> None:
        self._expected = None
