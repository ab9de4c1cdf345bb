"""The forward-only rule (svc.taskstate.moves_forward), which the node's agent and the managers' store share."""

from __future__ import annotations

import pytest

from manager.store.objects import TaskStatusObj
from svc.taskstate import STATE_ORDER, TASK_STATES, TERMINAL, moves_forward
from svc.v1 import cluster_pb2 as cpb


def st(state: str, health: str = "", container_id: str = "") -> cpb.TaskStatus:
    return cpb.TaskStatus(state=state, health=health, container_id=container_id)


def test_a_first_status_is_always_news() -> None:
    assert moves_forward(None, st("pending"))
    assert moves_forward(None, st("failed"))


@pytest.mark.parametrize("old,new", [(a, b) for a in TASK_STATES for b in TASK_STATES])
def test_states_only_move_later_in_the_order(old: str, new: str) -> None:
    # Same state, same health and container: never news, terminal or not.
    assert moves_forward(st(old), st(new)) == (STATE_ORDER[new] > STATE_ORDER[old])


def test_running_moves_to_any_end_but_never_back_to_starting() -> None:
    assert not moves_forward(st("running"), st("starting"))
    assert not moves_forward(st("running"), st("assigned"))
    assert all(moves_forward(st("running"), st(end)) for end in TERMINAL)


def test_the_same_live_state_is_news_with_new_health_or_a_new_container() -> None:
    assert moves_forward(st("running"), st("running", health="healthy"))
    assert moves_forward(st("starting", health="starting"), st("starting", health="unhealthy"))
    assert moves_forward(st("ready", container_id="c1"), st("ready", container_id="c2"))
    assert not moves_forward(st("running", "healthy", "c1"), st("running", "healthy", "c1"))


def test_an_ended_task_stays_as_it_ended() -> None:
    assert not moves_forward(st("failed", container_id="c1"), st("failed", container_id="c2"))
    assert not moves_forward(st("complete"), st("complete", health="healthy"))
    assert not moves_forward(st("failed"), st("running"))


def test_unknown_states_never_replace_known_ones() -> None:
    assert not moves_forward(st("new"), st("bogus"))
    assert moves_forward(st("bogus"), st("new"))


def test_the_store_object_follows_the_same_rule() -> None:
    running = TaskStatusObj(state="running", timestamp=1)
    assert moves_forward(running, TaskStatusObj(state="running", timestamp=2, health="healthy"))
    assert not moves_forward(running, TaskStatusObj(state="starting", timestamp=3))
    assert moves_forward(running, st("shutdown"))  # the two kinds compare with each other alike
