"""The task state model both sides of the wire follow (Swarm's): states in the only order they
may move, which are terminal, and the forward-only rule.

The rule is written here once: the node's agent applies it to what it reports, the managers'
store to what it accepts, so a late or repeated report can never move a task backwards.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Protocol

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


class Status(Protocol):
    """What the rule reads of a task status: the node's protobuf and the store's object both fit."""

    @property
    def state(self) -> str: ...
    @property
    def health(self) -> str: ...
    @property
    def container_id(self) -> str: ...


def moves_forward(old: Status | None, new: Status) -> bool:
    """Whether `new` is news after `old`: a later state, or the same live state with new health or a
    new container (a health check passing, a container replaced before it ran). An unknown state
    sorts before every known one, so it never replaces a known state."""
    if old is None:
        return True
    if STATE_ORDER.get(new.state, -1) > STATE_ORDER.get(old.state, -1):
        return True
    return (
        new.state == old.state
        and new.state not in TERMINAL
        and (new.health != old.health or new.container_id != old.container_id)
    )
