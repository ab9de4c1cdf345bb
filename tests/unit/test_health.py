"""Docker's health state machine, as a pure function."""

from __future__ import annotations

from node.engine.health import HealthState, Probe, next_health
from node.engine.spec import HealthCheck

CHECK = HealthCheck(argv=("true",), interval=1, timeout=1, retries=3, start_period=10)


def probe(t: float, code: int) -> Probe:
    return Probe(start=t, end=t + 0.1, exit_code=code, output="")


def test_success_makes_healthy_and_resets_streak() -> None:
    s = next_health(HealthState(status="starting", failing_streak=2), probe(100, 0), CHECK, started_at=0)
    assert (s.status, s.failing_streak) == ("healthy", 0)


def test_failures_in_start_period_do_not_count() -> None:
    s = HealthState(status="starting")
    for t in (1, 2, 3, 4):
        s = next_health(s, probe(t, 1), CHECK, started_at=0)
    assert (s.status, s.failing_streak) == ("starting", 0)
    assert len(s.log) == 4


def test_retries_failures_make_unhealthy() -> None:
    s = HealthState(status="healthy")
    for t, want in ((20, "healthy"), (21, "healthy"), (22, "unhealthy")):
        s = next_health(s, probe(t, 1), CHECK, started_at=0)
        assert s.status == want
    assert s.failing_streak == 3


def test_after_healthy_the_start_period_no_longer_protects() -> None:
    s = next_health(HealthState(status="starting"), probe(1, 0), CHECK, started_at=0)
    s = next_health(s, probe(2, 1), CHECK, started_at=0)
    assert s.failing_streak == 1


def test_log_keeps_last_five() -> None:
    s = HealthState(status="starting")
    for t in range(20, 30):
        s = next_health(s, probe(t, 0), CHECK, started_at=0)
    assert [p.start for p in s.log] == [25, 26, 27, 28, 29]
