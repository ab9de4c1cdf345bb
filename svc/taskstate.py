"""The task state model both sides of the wire follow (Swarm's): states in the only order they
may move, which are terminal, and the forward-only rule."""

from __future__ import annotations

NEW, PENDING, ASSIGNED, ACCEPTED, PREPARING, READY, STARTING, RUNNING = (
    "new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
)  # fmt: skip
COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED = (
    "complete", "shutdown", "failed", "rejected", "remove", "orphaned",
)  # fmt: skip
TASK_STATES = (NEW, PENDING, ASSIGNED, ACCEPTED, PREPARING, READY, STARTING, RUNNING,
               COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED)  # fmt: skip
STATE_ORDER = {s: i for i, s in enumerate(TASK_STATES)}
TERMINAL = frozenset({COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED})
# On a node and not ended: assigned up to running.
ON_NODE = frozenset(TASK_STATES[STATE_ORDER[ASSIGNED] : STATE_ORDER[RUNNING] + 1])


def is_terminal(state: str) -> bool:
    return state in TERMINAL


def moves_forward(current: str, new: str) -> bool:
    return STATE_ORDER.get(new, -1) > STATE_ORDER.get(current, -1)
