"""The agent's reconcile as a pure function: assignments and containers in, actions and statuses out."""

from __future__ import annotations

from types import SimpleNamespace

from node.agent.reconcile import TASK_LABEL, Observed, Remove, Start, Stop, plan
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb


def task(tid: str, desired: str = "running", state: str = "assigned") -> cpb.Task:
    return cpb.Task(id=tid, desired_state=desired, status=cpb.TaskStatus(state=state))


def ctr(tid: str, state: str = "running", exit_code: int = 0, health: str = "", oom: bool = False):  # type: ignore[no-untyped-def]
    return SimpleNamespace(
        id="c-" + tid,
        state=state,
        exit_code=exit_code,
        oom_killed=oom,
        started_at=1.0,
        health=SimpleNamespace(status=health),
        spec=pb.ContainerSpec(labels={TASK_LABEL: tid}),
    )


def test_assigned_task_without_container_starts() -> None:
    actions, statuses = plan({"t1": task("t1")}, [], set(), {}, {})
    assert actions == [Start(task("t1"))] and statuses == {}


def test_pending_task_is_not_started() -> None:
    actions, _ = plan({"t1": task("t1", state="pending")}, [], set(), {}, {})
    assert actions == []


def test_running_container_reports_running_and_health_gates_it() -> None:
    _, statuses = plan({"t1": task("t1")}, [ctr("t1")], set(), {}, {})
    assert statuses["t1"].state == "running"
    _, statuses = plan({"t1": task("t1")}, [ctr("t1", health="starting")], set(), {}, {})
    assert statuses["t1"].state == "starting"


def test_shutdown_and_unhealthy_stop_once() -> None:
    actions, _ = plan({"t1": task("t1", desired="shutdown")}, [ctr("t1")], set(), {}, {})
    assert actions == [Stop("t1", "c-t1", "shutdown")]
    actions, _ = plan({"t1": task("t1", desired="shutdown")}, [ctr("t1")], set(), {}, {"t1": "shutdown"})
    assert actions == []  # already stopping: the engine's deadline does the rest
    actions, _ = plan({"t1": task("t1")}, [ctr("t1", health="unhealthy")], set(), {}, {})
    assert actions == [Stop("t1", "c-t1", "unhealthy")]


def test_exits_map_to_task_states() -> None:
    _, s = plan({"t1": task("t1")}, [ctr("t1", state="exited", exit_code=3)], set(), {}, {})
    assert (s["t1"].state, s["t1"].err) == ("failed", "task: non-zero exit (3)")
    _, s = plan({"t1": task("t1")}, [ctr("t1", state="exited", exit_code=137, oom=True)], set(), {}, {})
    assert s["t1"].message == "OOM killed"
    _, s = plan({"t1": task("t1")}, [ctr("t1", state="exited")], set(), {}, {})
    assert s["t1"].state == "complete"
    _, s = plan(
        {"t1": task("t1", desired="shutdown")},
        [ctr("t1", state="exited", exit_code=137)],
        set(),
        {},
        {"t1": "shutdown"},
    )
    assert s["t1"].state == "shutdown"


def test_unknown_and_duplicate_containers_are_removed_but_foreign_ones_kept() -> None:
    foreign = SimpleNamespace(id="mine", state="running", spec=pb.ContainerSpec(), started_at=0.0)
    actions, _ = plan({"t1": task("t1")}, [ctr("gone"), ctr("t1"), foreign], set(), {}, {})
    assert actions == [Remove("c-gone")]


def test_start_failures_are_reported() -> None:
    _, s = plan({"t1": task("t1")}, [], set(), {"t1": Observed("rejected", "failed", "task: no such image")}, {})
    assert (s["t1"].state, s["t1"].err) == ("rejected", "task: no such image")


def test_busy_tasks_are_left_alone() -> None:
    actions, statuses = plan({"t1": task("t1")}, [], {"t1"}, {}, {})
    assert actions == [] and statuses == {}


class _RecordingEngine:
    """Just enough engine for the worker: fixed containers, removals recorded."""

    def __init__(self, containers: list) -> None:  # type: ignore[type-arg]
        self._containers = containers
        self.removed: list[str] = []

    def subscribe(self, fn) -> None:  # type: ignore[no-untyped-def]
        pass

    def containers(self, all: bool = False) -> list:  # type: ignore[type-arg]
        return list(self._containers)

    def remove(self, ref: str, force: bool = False) -> None:
        self.removed.append(ref)

    def announce_pulls(self, refs: set[str]) -> None:
        pass


def test_worker_leaves_containers_alone_until_the_first_full_assignment_set() -> None:
    import asyncio

    from node.agent.worker import Worker

    async def scenario() -> list[str]:
        engine = _RecordingEngine([ctr("t1")])
        worker = Worker(engine, "n1", on_status=lambda: None)  # type: ignore[arg-type]
        await worker.reconcile_once()  # a restarted node, the manager not heard from yet
        await asyncio.sleep(0.05)
        assert engine.removed == []
        worker.set_assignments(True, [], [])  # the manager's full set: t1 is not in it
        await worker.reconcile_once()
        for _ in range(50):
            if engine.removed:
                break
            await asyncio.sleep(0.01)
        return engine.removed

    assert asyncio.run(scenario()) == ["c-t1"]
