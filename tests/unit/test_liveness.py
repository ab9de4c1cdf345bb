"""Node liveness as a pure function: last heartbeats and the time in, nodes to mark down out."""

from __future__ import annotations

from clusterfixtures import node

from manager.liveness import down_after, expired_nodes
from manager.store.objects import MANAGER, NODE_DOWN, NODE_READY, NODE_UNKNOWN, NodeObj
from svc import defaults

PERIOD = 1.0
LIMIT = PERIOD * defaults.HEARTBEAT_MISSES_DOWN  # 3 s
GRACE = defaults.ELECTION_GRACE_FACTOR * LIMIT  # 6 s after an election


def down(
    now: float, last_seen: dict[str, float], leader_since: float = 0.0, nodes: list[NodeObj] | None = None
) -> list[str]:
    nodes = nodes if nodes is not None else [node("a"), node("b")]
    return [node_id for node_id, _, _ in expired_nodes(now, nodes, last_seen, PERIOD, leader_since)]


def test_down_after_three_missed_periods() -> None:
    assert down_after(PERIOD) == LIMIT == 3.0
    assert down_after(5.0) == 15.0  # Swarm's 5 s period: 15 s


def test_a_node_is_down_once_its_heartbeats_are_older_than_the_limit() -> None:
    seen = {"n-a": 100.0, "n-b": 100.0}
    assert down(100.0 + LIMIT, seen) == []  # exactly at the limit: still up
    assert down(100.0 + LIMIT + 0.1, seen) == ["n-a", "n-b"]
    assert down(100.0 + LIMIT + 0.1, {"n-a": 100.0, "n-b": 102.0}) == ["n-a"]


def test_the_decision_says_why() -> None:
    [(node_id, state, why)] = expired_nodes(110.0, [node("a")], {"n-a": 105.5}, PERIOD, 0.0)
    assert (node_id, state) == ("n-a", NODE_DOWN)
    assert why == "heartbeat failure: none for 4.5s"
    [(_, _, why)] = expired_nodes(110.0, [node("a")], {}, PERIOD, leader_since=100.0)
    assert why == "no heartbeat since the leader started"


def test_after_an_election_unseen_nodes_get_twice_the_grace() -> None:
    elected = 1000.0
    assert down(elected + LIMIT + 0.1, {}, leader_since=elected) == []  # a seen node would be down by now
    assert down(elected + GRACE, {}, leader_since=elected) == []
    assert down(elected + GRACE + 0.1, {}, leader_since=elected) == ["n-a", "n-b"]


def test_a_node_that_found_the_new_leader_is_judged_by_its_heartbeats() -> None:
    elected = 1000.0
    seen = {"n-a": elected + 1.0}
    assert down(elected + 2.0, seen, leader_since=elected) == []
    assert down(elected + GRACE + 0.1, seen, leader_since=elected) == ["n-a", "n-b"]  # a stopped again


def test_nodes_not_ready_and_records_without_a_node_daemon_are_left_alone() -> None:
    already_down = node("a", state=NODE_DOWN)
    unknown = node("b", state=NODE_UNKNOWN)
    manager_only = NodeObj(id="n-m", role=MANAGER, state=NODE_READY)  # no node daemon: no runtime described
    assert down(10_000.0, {}, nodes=[already_down, unknown, manager_only]) == []


def test_the_period_scales_the_limit() -> None:
    seen = {"n-a": 100.0}
    nodes = [node("a")]
    assert expired_nodes(100.0 + 14.9, nodes, seen, 5.0, 0.0) == []
    assert [n for n, _, _ in expired_nodes(100.0 + 15.1, nodes, seen, 5.0, 0.0)] == ["n-a"]


def test_a_down_node_that_heartbeats_to_this_leader_is_ready_again() -> None:
    """Whatever an earlier leader wrote: heard from within the limit means ready."""
    from manager.liveness import revived_nodes

    stale = [node("a", state=NODE_DOWN), node("b", state=NODE_DOWN), node("c")]
    seen = {"n-a": 100.0, "n-b": 90.0, "n-c": 100.0}
    assert revived_nodes(101.0, stale, seen, PERIOD) == [("n-a", NODE_READY, "")]
    assert revived_nodes(101.0, stale, {}, PERIOD) == []  # not heard by this leader: stays down
    assert revived_nodes(100.0 + LIMIT + 0.1, stale, seen, PERIOD) == []  # heard, but too long ago
