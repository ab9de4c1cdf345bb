"""The leader's own stalls are not a node's silence (manager/stallclock.py, dispatcher)."""

from __future__ import annotations

from manager.stallclock import StallClock


def test_late_ticks_count_as_stall_and_on_time_ones_do_not() -> None:
    c = StallClock(tick=0.1, slack=0.05)
    c.tick(10.0)
    c.tick(10.1)
    c.tick(10.23)  # 30 ms late: within the slack
    assert c.total == 0.0
    c.tick(12.33)  # expected at 10.33: the loop could not run for 2 s
    assert abs(c.total - 2.0) < 1e-9
    c.reset()
    c.tick(20.0)  # after a reset (a new term) the first tick only starts the count
    assert abs(c.total - 2.0) < 1e-9


def test_a_node_is_not_down_for_the_leaders_stall() -> None:
    from clusterfixtures import node

    from manager import liveness

    n = node("a")
    seen, stall_then, stall_now = 100.0, 0.0, 2.5
    now = 104.0  # 4 s of silence by the wall clock: past the 3 s limit
    assert liveness.expired_nodes(now, [n], {n.id: seen}, 1.0, 0.0)
    adjusted = {n.id: seen + (stall_now - stall_then)}  # what the dispatcher passes: 1.5 s of real silence
    assert not liveness.expired_nodes(now, [n], adjusted, 1.0, 0.0)
