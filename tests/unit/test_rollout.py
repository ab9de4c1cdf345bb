"""Rolling updates with Swarm's UpdateConfig/RollbackConfig, as pure decisions (manager/rollout.py):
a snapshot and the time in, task writes and the rollout status out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from clusterfixtures import ids, node, service, snap, task

from manager.orchestrator import Plan, reconcile
from manager.store import ops
from manager.store.objects import FAILED, PENDING, RUNNING, SHUTDOWN, STARTING, ServiceObj, TaskObj, UpdateStatusObj
from manager.store.state import StoreState
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb


def updated(replicas: int = 4, status: UpdateStatusObj | None = None, **policy: Any) -> tuple[ServiceObj, ServiceObj]:
    """(the service as it was at spec version 1, the same service at version 2 with `policy`)."""
    old = service(replicas=replicas)
    spec = cpb.ServiceSpec()
    spec.CopyFrom(old.spec)
    spec.task.env.append("V=2")
    for name, value in policy.items():
        target = spec.rollback_config if name.startswith("rb_") else spec.update_config
        setattr(target, name.removeprefix("rb_"), value)
    new = replace(old, spec=spec, previous_spec=old.spec, spec_version=2, version=2, update_status=status)
    return old, new


def created_slots(plan: Plan) -> list[int]:
    return sorted(t.slot for t in plan.create)


def retired(plan: Plan) -> set[str]:
    return {tid for tid, _, ch in plan.update if ch.get("desired_state") == SHUTDOWN}


def running(svc: ServiceObj, slots: range, **kw: Any) -> list[TaskObj]:
    return [task(svc, s, "n-a", **kw) for s in slots]


# a port published on its task's node (the routing mesh, when it lands, takes the others)
HOST_MODE = {"publish_mode": "host"} if "publish_mode" in pb.PortMapping.DESCRIPTOR.fields_by_name else {}
UPDATING = UpdateStatusObj("updating", started_at=10, message="update in progress")


def test_a_rollout_starts_updating_and_replaces_parallelism_slots() -> None:
    old, new = updated(parallelism=2)
    plan = reconcile(snap([node("a")], [new], running(old, range(1, 5))), now=10, new_id=ids)
    assert created_slots(plan) == [1, 2] and len(retired(plan)) == 2
    [(sid, version, status, rollback)] = plan.rollouts
    assert (sid, version, status.state, status.started_at, rollback) == (new.id, 2, "updating", 10, False)


def test_parallelism_0_replaces_every_slot_at_once() -> None:
    old, new = updated(parallelism=0)
    plan = reconcile(snap([node("a")], [new], running(old, range(1, 5))), now=10, new_id=ids)
    assert created_slots(plan) == [1, 2, 3, 4]


def test_default_parallelism_waits_for_the_new_task_to_run() -> None:
    old, new = updated(status=UPDATING)
    tasks = [task(new, 1, "n-a", state=STARTING, created=10), *running(old, range(2, 5))]
    assert not reconcile(snap([node("a")], [new], tasks), now=11, new_id=ids).create
    tasks[0] = task(new, 1, "n-a", state=RUNNING, ts=12, created=10)
    assert created_slots(reconcile(snap([node("a")], [new], tasks), now=12, new_id=ids)) == [2]


def test_delay_holds_the_next_replacement_after_a_task_runs() -> None:
    old, new = updated(status=UPDATING, delay_seconds=5)
    tasks = [task(new, 1, "n-a", state=RUNNING, ts=12, created=10), *running(old, range(2, 5))]
    early = reconcile(snap([node("a")], [new], tasks), now=14, new_id=ids)
    assert not early.create and early.wake_at == 17
    assert created_slots(reconcile(snap([node("a")], [new], tasks), now=17.1, new_id=ids)) == [2]


def test_start_first_keeps_the_old_task_until_the_new_one_runs() -> None:
    old, new = updated(replicas=2, status=UPDATING, order="start-first")
    tasks = running(old, range(1, 3))
    first = reconcile(snap([node("a")], [new], tasks), now=10, new_id=ids)
    assert created_slots(first) == [1] and not retired(first)  # the old task still runs
    starting = task(new, 1, "n-a", state=STARTING, created=10.5)
    second = reconcile(snap([node("a")], [new], [*tasks, starting]), now=11, new_id=ids)
    assert not second.create and not retired(second)  # both live in slot 1 while the new one starts
    ran = replace(starting, status=replace(starting.status, state=RUNNING, timestamp=12))
    third = reconcile(snap([node("a")], [new], [*tasks, ran]), now=12, new_id=ids)
    assert retired(third) == {tasks[0].id} and created_slots(third) == [2]


def test_start_first_gives_up_the_old_task_when_it_holds_the_new_ones_host_port() -> None:
    old, new = updated(replicas=1, status=UPDATING, order="start-first")
    for s in (old, new):
        s.spec.task.ports.append(pb.PortMapping(container_port=80, host_port=8080, protocol="tcp", **HOST_MODE))
    holder = task(old, 1, "n-a")
    waiting = task(new, 1, "", state=PENDING, created=10.5)
    reason = "no suitable node (host port 8080/tcp in use on 1 node)"
    waiting = replace(waiting, status=replace(waiting.status, message=reason))
    plan = reconcile(snap([node("a")], [new], [holder, waiting]), now=11, new_id=ids)
    assert retired(plan) == {holder.id}


def test_a_new_task_failing_within_the_rollout_pauses_it() -> None:
    old, new = updated(status=UPDATING)
    bad = task(new, 1, "n-a", state=FAILED, ts=12, created=10)
    plan = reconcile(snap([node("a")], [new], [bad, *running(old, range(2, 5))]), now=12.5, new_id=ids)
    assert not plan.create
    [(_, _, status, rollback)] = plan.rollouts
    assert status.state == "paused" and not rollback
    assert status.message == f"update paused due to failure or early termination of task {bad.id}"


def test_a_paused_rollout_replaces_nothing_more() -> None:
    old, new = updated(status=UpdateStatusObj("paused", 10, 0, "update paused due to ..."))
    plan = reconcile(snap([node("a")], [new], running(old, range(1, 5))), now=20, new_id=ids)
    assert not plan.create and not plan.rollouts


def test_failures_within_max_failure_ratio_and_continue_go_on() -> None:
    old, new = updated(status=UPDATING, max_failure_ratio=0.5)
    bad = task(new, 1, "n-a", state=FAILED, ts=12, created=10)
    plan = reconcile(snap([node("a")], [new], [bad, *running(old, range(2, 5))]), now=12.5, new_id=ids)
    assert created_slots(plan) == [2] and not plan.rollouts  # 1 of 4 failed: not above 0.5
    old, new = updated(status=UPDATING, failure_action="continue")
    plan = reconcile(snap([node("a")], [new], [bad, *running(old, range(2, 5))]), now=12.5, new_id=ids)
    assert created_slots(plan) == [2] and not plan.rollouts


def test_failure_action_rollback_goes_back_to_the_previous_spec() -> None:
    old, new = updated(status=UPDATING, failure_action="rollback")
    bad = task(new, 1, "n-a", state=FAILED, ts=12, created=10)
    plan = reconcile(snap([node("a")], [new], [bad, *running(old, range(2, 5))]), now=12.5, new_id=ids)
    [(_, _, status, rollback)] = plan.rollouts
    assert rollback and status.state == "rollback_started" and status.started_at == 10
    assert status.message.startswith("update rolled back due to failure or early termination of task")
    lone = replace(new, previous_spec=None)
    [(_, _, status, rollback)] = reconcile(snap([node("a")], [lone], [bad]), now=12.5, new_id=ids).rollouts
    assert not rollback and status.state == "paused" and "no previous spec" in status.message


def test_a_rollback_follows_rollback_config() -> None:
    started = UpdateStatusObj("rollback_started", 10, 0, "manually requested rollback")
    old, new = updated(status=started, parallelism=1, rb_parallelism=3)
    plan = reconcile(snap([node("a")], [new], running(old, range(1, 5))), now=11, new_id=ids)
    assert created_slots(plan) == [1, 2, 3] and not plan.rollouts
    bad = task(new, 1, "n-a", state=FAILED, ts=12, created=11)
    [(_, _, status, _)] = reconcile(snap([node("a")], [new], [bad]), now=13, new_id=ids).rollouts
    assert status.state == "rollback_paused" and status.message.startswith("rollback paused due to failure")


def test_the_rollout_completes_monitor_seconds_after_its_last_task_ran() -> None:
    _, new = updated(status=UPDATING, replicas=2, monitor_seconds=5)
    tasks = [task(new, s, "n-a", state=RUNNING, ts=20, created=11) for s in (1, 2)]
    early = reconcile(snap([node("a")], [new], tasks), now=22, new_id=ids)
    assert not early.rollouts and early.wake_at == 25
    [(_, _, status, _)] = reconcile(snap([node("a")], [new], tasks), now=25.5, new_id=ids).rollouts
    assert (status.state, status.completed_at, status.message) == ("completed", 25.5, "update completed")
    done = replace(new, update_status=status)
    late = [replace(tasks[0], status=replace(tasks[0].status, state=FAILED, timestamp=40)), tasks[1]]
    assert not reconcile(snap([node("a")], [done], late), now=40, new_id=ids).rollouts  # after it completed


def test_global_rollout_by_node() -> None:
    old = service(mode="global", replicas=0)
    spec = cpb.ServiceSpec()
    spec.CopyFrom(old.spec)
    spec.task.env.append("V=2")
    spec.update_config.parallelism = 2
    new = replace(old, spec=spec, spec_version=2, version=2)
    nodes = [node(n) for n in "abc"]
    tasks = [task(old, 0, f"n-{n}") for n in "abc"]
    plan = reconcile(snap(nodes, [new], tasks), now=10, new_id=ids)
    assert len(plan.create) == 2 and all(t.node_id for t in plan.create)


def test_store_spec_write_clears_the_status_and_rollout_ops_roll_back() -> None:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    v1 = cpb.ServiceSpec(name="web", replicas=2, task=pb.ContainerSpec(image="busybox", env=["V=1"]))
    _, version = s.apply(ops.service_create("s1", v1))
    v2 = cpb.ServiceSpec()
    v2.CopyFrom(v1)
    v2.task.env[:] = ["V=2"]
    _, version = s.apply(ops.service_update("s1", version, v2))
    paused = UpdateStatusObj("paused", 1, 0, "update paused")
    assert s.apply(ops.service_rollout("s1", version - 1, paused, False)) == ("", False)  # stale: skipped
    assert s.apply(ops.service_rollout("s1", version, paused, False)) == ("", True)
    assert s.services["s1"].update_status == paused
    restored = StoreState()
    restored.load_plain(s.to_plain())
    assert restored.services["s1"].update_status == paused
    svc = s.services["s1"]
    back = UpdateStatusObj("rollback_started", 1, 0, "update rolled back due to ...")
    assert s.apply(ops.service_rollout("s1", svc.version, back, True))[0] == ""
    svc = s.services["s1"]
    assert list(svc.spec.task.env) == ["V=1"] and svc.previous_spec is None and svc.update_status == back
    assert s.apply(ops.service_rollout("s1", svc.version, back, True))[0] == "Conflict"  # nothing to go back to
    s.apply(ops.service_update("s1", svc.version, svc.spec))  # `svc update` with nothing changed: resumes
    assert s.services["s1"].update_status is None


def test_a_policy_change_alone_replaces_no_task() -> None:
    from svc.cli import waitplan

    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    v1 = cpb.ServiceSpec(name="web", replicas=2, task=pb.ContainerSpec(image="busybox"))
    _, version = s.apply(ops.service_create("s1", v1))
    v2 = cpb.ServiceSpec()
    v2.CopyFrom(v1)
    v2.update_config.parallelism = 2
    v2.rollback_config.order = "start-first"
    s.apply(ops.service_update("s1", version, v2))
    assert s.services["s1"].spec_version == 1 and s.services["s1"].spec.update_config.parallelism == 2
    assert not waitplan.replaces_tasks(v1, v2)


def test_only_a_failure_within_monitor_of_running_counts() -> None:
    _, new = updated(replicas=1, status=UPDATING, monitor_seconds=5)
    ran = task(new, 1, "n-a", state=FAILED, ts=15, created=10)
    early = replace(ran, started_at=12)  # failed 3 s after it ran: a failure
    [(_, _, status, _)] = reconcile(snap([node("a")], [new], [early]), now=15.5, new_id=ids).rollouts
    assert status.state == "paused"
    late = replace(ran, started_at=12, status=replace(ran.status, timestamp=30))  # 18 s after: not the update's
    plan = reconcile(snap([node("a")], [new], [late]), now=30.5, new_id=ids)  # before its restart delay ends
    assert not plan.create and not any(r[2].state == "paused" for r in plan.rollouts)
    never = replace(ran, status=replace(ran.status, state="rejected"))  # never ran: always a failure
    [(_, _, status, _)] = reconcile(snap([node("a")], [new], [never]), now=15.5, new_id=ids).rollouts
    assert status.state == "paused"


def test_the_store_records_when_a_task_first_ran() -> None:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    svc = service()
    t = task(svc, 1, "n-a", state="assigned")
    s.apply(ops.tasks_write(create=[t]))
    s.apply(ops.tasks_status([(t.id, "n-a", replace(t.status, state=RUNNING, timestamp=12))]))
    s.apply(ops.tasks_status([(t.id, "n-a", replace(t.status, state=RUNNING, timestamp=14, health="healthy"))]))
    s.apply(ops.tasks_status([(t.id, "n-a", replace(t.status, state=FAILED, timestamp=20))]))
    assert s.tasks[t.id].started_at == 12 and s.tasks[t.id].state == FAILED
    restored = StoreState()
    restored.load_plain(s.to_plain())
    assert restored.tasks[t.id].started_at == 12
