"""Node liveness as a pure function: when heartbeats were last seen in, the nodes to mark down out.

The dispatcher records when each node last heartbeated to this leader (its own monotonic clock);
the leader's round asks this module which nodes to mark DOWN and writes that. No I/O and no clock
here: the caller passes `now`, so every rule is a unit test (tests/unit/test_liveness.py).

The rules (Swarm's):
- a READY node daemon whose last heartbeat is older than HEARTBEAT_MISSES_DOWN periods is down;
- a READY node daemon not heard from since this manager became the leader gets
  ELECTION_GRACE_FACTOR times that long, counted from the election, to find the new leader;
- managers' own records without a node daemon (no runtime), and nodes not READY, are left alone.
And the other way (`revived_nodes`): a DOWN node daemon that heartbeats to this leader, within
the limit, is READY again — whatever an earlier leader wrote. Marking down is only ever the
current leader's decision from its own observations (`last_seen` is its own, cleared when it
becomes the leader), and every decision is fenced by its term (store/state.fence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from svc import defaults

from .store.objects import NODE_DOWN, NODE_READY, NodeObj

NodeState = tuple[str, str, str]  # (node id, new state, why), as ops.node_states takes them


def down_after(period: float) -> float:
    """How long a node may stay silent before it is marked down."""
    return period * defaults.HEARTBEAT_MISSES_DOWN


def expired_nodes(
    now: float,
    nodes: Iterable[NodeObj],
    last_seen: Mapping[str, float],
    period: float,
    leader_since: float,
) -> list[NodeState]:
    """(node id, DOWN, why) for every node daemon whose heartbeats stopped.

    `now`, `last_seen` and `leader_since` are on the same clock; `period` is the heartbeat period."""
    limit = down_after(period)
    grace_until = leader_since + defaults.ELECTION_GRACE_FACTOR * limit
    out: list[NodeState] = []
    for node in nodes:
        if node.state != NODE_READY or not node.description.runtime:
            continue
        seen = last_seen.get(node.id)
        if seen is None:
            if now > grace_until:
                out.append((node.id, NODE_DOWN, "no heartbeat since the leader started"))
        elif now - seen > limit:
            out.append((node.id, NODE_DOWN, f"heartbeat failure: none for {now - seen:.1f}s"))
    return out


def revived_nodes(
    now: float, nodes: Iterable[NodeObj], last_seen: Mapping[str, float], period: float
) -> list[NodeState]:
    """(node id, READY, '') for every DOWN node daemon this leader heard from within the limit."""
    limit = down_after(period)
    out: list[NodeState] = []
    for node in nodes:
        if node.state != NODE_DOWN or not node.description.runtime:
            continue
        seen = last_seen.get(node.id)
        if seen is not None and now - seen <= limit:
            out.append((node.id, NODE_READY, ""))
    return out
