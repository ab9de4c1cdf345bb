"""The orchestrator as a pure function: snapshot + time in, task changes out."""

from __future__ import annotations

from clusterfixtures import ids, node, service, snap, task

from manager.orchestrator import reconcile
from manager.store.objects import FAILED, NODE_DOWN, REMOVE, RUNNING, SHUTDOWN, STARTING


def test_scale_up_creates_the_missing_slots() -> None:
    svc = service(replicas=3)
    plan = reconcile(snap([node("a")], [svc], [task(svc, 1, "n-a")]), now=100, new_id=ids)
    assert sorted(t.slot for t in plan.create) == [2, 3]
    assert all(t.node_id == "" and t.desired_state == RUNNING for t in plan.create)


def test_scale_down_prefers_not_running_then_busiest_node_then_high_slots() -> None:
    svc = service(replicas=2)
    tasks = [task(svc, 1, "n-a"), task(svc, 2, "n-a"), task(svc, 3, "n-b"), task(svc, 4, "n-b", state=STARTING)]
    plan = reconcile(snap([node("a"), node("b")], [svc], tasks), now=100, new_id=ids)
    removed = {tid for tid, _, ch in plan.update if ch.get("desired_state") == REMOVE}
    by_id = {t.id: t for t in tasks}
    assert sorted(by_id[t].slot for t in removed) == [2, 4]  # not running first, then the busier node a
    assert not plan.create


def test_tasks_on_a_down_node_are_replaced_at_once() -> None:
    svc = service(replicas=2)
    t1, t2 = task(svc, 1, "n-a"), task(svc, 2, "n-b")
    plan = reconcile(snap([node("a"), node("b", state=NODE_DOWN)], [svc], [t1, t2]), now=100, new_id=ids)
    assert (t2.id, t2.version, {"desired_state": SHUTDOWN}) in plan.update
    assert [t.slot for t in plan.create] == [2]


def test_drained_node_tasks_move() -> None:
    svc = service(replicas=1)
    t1 = task(svc, 1, "n-a")
    plan = reconcile(snap([node("a", availability="drain"), node("b")], [svc], [t1]), now=100, new_id=ids)
    assert [t.slot for t in plan.create] == [1]


def test_failed_task_restarts_after_the_delay() -> None:
    svc = service(replicas=1)
    failed = task(svc, 1, "n-a", state=FAILED, ts=100)
    early = reconcile(snap([node("a")], [svc], [failed]), now=102, new_id=ids)
    assert early.empty() and early.wake_at == 105
    late = reconcile(snap([node("a")], [svc], [failed]), now=105.5, new_id=ids)
    assert [t.slot for t in late.create] == [1]
    svc0 = service(replicas=1, restart_delay=0.0)
    now0 = reconcile(snap([node("a")], [svc0], [task(svc0, 1, "n-a", state=FAILED, ts=100)]), now=100, new_id=ids)
    assert len(now0.create) == 1


def test_restart_condition_none_leaves_the_slot_done() -> None:
    svc = service(replicas=1, restart_condition="none")
    plan = reconcile(snap([node("a")], [svc], [task(svc, 1, "n-a", state=FAILED, ts=0)]), now=100, new_id=ids)
    assert plan.empty()


def test_history_is_pruned_to_five_per_slot() -> None:
    svc = service(replicas=1)
    old = [task(svc, 1, "n-a", state=FAILED, desired=SHUTDOWN, created=i) for i in range(8)]
    live = task(svc, 1, "n-a", created=100)
    plan = reconcile(snap([node("a")], [svc], [*old, live]), now=200, new_id=ids)
    assert sorted(plan.delete) == sorted(t.id for t in old[:3])


def test_removed_service_tasks_are_deleted_once_stopped() -> None:
    svc = service()
    stopping = task(svc, 1, "n-a", desired=REMOVE)
    stopped = task(svc, 2, "n-a", state=SHUTDOWN, desired=REMOVE)
    plan = reconcile(snap([node("a")], [], [stopping, stopped]), now=1, new_id=ids)
    assert plan.delete == [stopped.id]


def test_global_service_runs_once_per_eligible_node() -> None:
    svc = service(mode="global", constraints=["node.labels.zone==eu"])
    nodes = [node("a", labels={"zone": "eu"}), node("b", labels={"zone": "us"}), node("c", labels={"zone": "eu"})]
    plan = reconcile(snap(nodes, [svc], [task(svc, 0, "n-a")]), now=1, new_id=ids)
    assert [t.node_id for t in plan.create] == ["n-c"]


def test_rolling_update_replaces_one_task_at_a_time() -> None:
    svc = service(replicas=3)
    tasks = [task(svc, s, "n-a") for s in (1, 2, 3)]
    newer = svc.__class__(id=svc.id, spec=svc.spec, spec_version=2, version=2)
    plan = reconcile(snap([node("a")], [newer], tasks), now=1, new_id=ids)
    assert len(plan.create) == 1 and plan.create[0].service_version == 2
    new_task = plan.create[0]
    starting = task(newer, new_task.slot, "n-a", state=STARTING)
    rest = [t for t in tasks if t.slot != new_task.slot]
    retired = next(t for t in tasks if t.slot == new_task.slot)
    old = retired.__class__(
        **{
            **{f: getattr(retired, f) for f in retired.__dataclass_fields__},
            "desired_state": SHUTDOWN,
            "status": retired.status,
        }
    )
    waiting = reconcile(snap([node("a")], [newer], [*rest, old, starting]), now=2, new_id=ids)
    assert not waiting.create  # parallelism 1: wait for the new task to run
