"""The leader round's merge as a pure function: orchestrator and scheduler in, task writes out."""

from __future__ import annotations

from clusterfixtures import ids, node, service, snap, task

from manager.roundplan import RoundPlan, plan_round
from manager.store.objects import ASSIGNED, FAILED, PENDING, REMOVE, TaskObj


def test_new_tasks_are_created_on_the_node_the_scheduler_chose() -> None:
    svc = service(replicas=2)
    plan = plan_round(snap([node("a"), node("b")], [svc], []), now=100, new_id=ids)
    assert sorted(t.node_id for t in plan.create) == ["n-a", "n-b"]
    assert all(t.status.state == ASSIGNED and t.status.timestamp == 100 for t in plan.create)
    assert plan.placements == 2 and not plan.update and not plan.delete


def test_new_tasks_that_fit_nowhere_are_created_pending_with_the_reason() -> None:
    svc = service(replicas=1, constraints=["node.labels.zone==eu"])
    plan = plan_round(snap([node("a")], [svc], []), now=100, new_id=ids)
    [t] = plan.create
    assert t.node_id == "" and t.status.state == PENDING and "node.labels.zone==eu" in t.status.message
    assert plan.placements == 0


def test_a_waiting_task_is_assigned_once_a_node_fits() -> None:
    svc = service(replicas=1)
    waiting = task(svc, 1, state=PENDING, ts=50, version=7)
    plan = plan_round(snap([node("a")], [svc], [waiting]), now=100, new_id=ids)
    assert not plan.create
    [(tid, version, changes)] = plan.update
    assert (tid, version, changes["node_id"]) == (waiting.id, 7, "n-a")
    assert changes["status"]["state"] == ASSIGNED and changes["status"]["timestamp"] == 100


def test_a_waiting_task_gets_a_new_reason_but_keeps_when_it_started_waiting() -> None:
    svc = service(replicas=1, constraints=["node.labels.zone==eu"])
    waiting = task(svc, 1, state=PENDING, ts=50)
    plan = plan_round(snap([node("a")], [svc], [waiting]), now=100, new_id=ids)
    [(_, _, changes)] = plan.update
    assert changes["status"]["state"] == PENDING and changes["status"]["timestamp"] == 50
    assert "node.labels.zone==eu" in changes["status"]["message"]


def test_the_same_reason_again_writes_nothing_so_the_loop_settles() -> None:
    svc = service(replicas=1, constraints=["node.labels.zone==eu"])
    first = plan_round(snap([node("a")], [svc], []), now=100, new_id=ids)
    [t] = first.create
    again = plan_round(snap([node("a")], [svc], [t]), now=101, new_id=ids)
    assert again.empty()


def test_a_task_the_orchestrator_retires_is_not_scheduled() -> None:
    svc = service(replicas=1)
    keep, surplus = task(svc, 1, "n-a"), task(svc, 2, state=PENDING)
    plan = plan_round(snap([node("a")], [svc], [keep, surplus]), now=100, new_id=ids)
    [(tid, _, changes)] = plan.update
    assert tid == surplus.id and changes["desired_state"] == REMOVE and "node_id" not in changes
    assert plan.placements == 0


def test_the_orchestrators_timer_is_passed_on() -> None:
    svc = service(replicas=1)
    failed = task(svc, 1, "n-a", state=FAILED, ts=100)
    plan = plan_round(snap([node("a")], [svc], [failed]), now=102, new_id=ids)
    assert plan.empty() and plan.wake_at == 105


def test_batches_split_creates_and_updates_and_send_deletes_once() -> None:
    svc = service()
    tasks: list[TaskObj] = [task(svc, i) for i in range(5)]
    update = [(t.id, 1, {"desired_state": REMOVE}) for t in tasks[:3]]
    plan = RoundPlan(create=tasks, update=update, delete=["d1", "d2"])
    batches = plan.batches(2)
    assert [(len(c), len(u), d) for c, u, d in batches] == [(2, 2, ["d1", "d2"]), (2, 1, []), (1, 0, [])]
    assert RoundPlan(delete=["d1"]).batches(2) == [([], [], ["d1"])]
