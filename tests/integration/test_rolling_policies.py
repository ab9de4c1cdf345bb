"""Update and rollback policies on a real cluster (a manager, two nodes, real containers): parallelism
and start-first seen in the tasks' history, a failing update paused and fixed, a failing update with
--update-failure-action rollback rolled back, UpdateStatus in `svc inspect`."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from helpers import poll
from test_cluster import build

pytestmark = pytest.mark.root


@pytest.fixture
def cluster(make_cluster):  # type: ignore[no-untyped-def]
    return build(make_cluster, managers=1, nodes=2)


def status(c, name: str) -> dict:  # type: ignore[no-untyped-def]
    [svc] = json.loads(c.ok("inspect", name))
    return svc.get("update_status") or {}


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def live(c, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [t for t in c.tasks(name) if t["desired_state"] == "running"]


def test_parallelism_and_start_first(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok("create", "--name", "web", "--replicas", "4", "-e", "V=1", "busybox", "sleep", "1000000")
    out = c.ok("update", "--update-parallelism", "2", "--update-order", "start-first", "--env-add", "V=2", "web")
    assert "web: 4/4 running" in out
    poll(lambda: status(c, "web").get("state") == "completed", 60, what="the rollout to complete")
    assert status(c, "web")["message"] == "update completed"
    tasks = c.tasks("web")
    new = sorted((t for t in tasks if "V=2" in t["spec"]["env"]), key=lambda t: ts(t["created_at"]))
    old = {t["slot"]: t for t in tasks if "V=1" in t["spec"]["env"]}
    assert len(new) == 4 and all(t["desired_state"] == "running" for t in new) and len(old) == 4
    # parallelism 2: two new tasks at once, the next ones only once one of those ran
    first_ran = min(ts(t["status"]["timestamp"]) for t in new[:2])
    assert ts(new[1]["created_at"]) < first_ran <= ts(new[2]["created_at"]) + 0.5
    # start-first: each old task stopped only after its slot's new task ran
    for t in new:
        gone = old[t["slot"]]
        assert gone["status"]["state"] == "shutdown" and ts(gone["status"]["timestamp"]) >= ts(t["status"]["timestamp"])
    pretty = c.ok("inspect", "--pretty", "web")
    assert "UpdateConfig:\n Parallelism:\t2\n" in pretty and " Update order:      start-first" in pretty
    assert "UpdateStatus:\n State:\t\tcompleted\n" in pretty


def test_failing_update_pauses_then_rolls_back_with_the_policy(cluster) -> None:  # type: ignore[no-untyped-def]
    c = cluster
    c.ok("create", "--name", "app", "--replicas", "4", "--restart-delay", "1s", "busybox", "sleep", "1000000")
    # the default policy pauses at the first failure; the wait says why, and the rest of the tasks stay
    r = c.cli(None, "update", "--args", "sh -c 'exit 3'", "app")
    assert r.returncode != 0 and "svc: app: " in r.stderr, r
    poll(lambda: status(c, "app").get("state") == "paused", 30, what="a paused rollout")
    assert status(c, "app")["message"].startswith("update paused due to failure or early termination of task ")
    # a new task may run a moment before it fails, so a second slot may have been started: never all four
    old = {t["slot"] for t in live(c, "app") if t["spec"]["cmd"][0] == "sleep"}
    assert len(live(c, "app")) == 4 and 2 <= len(old) <= 3
    time.sleep(3)  # paused: no further slot is replaced (failed ones restart in their own slots)
    assert {t["slot"] for t in live(c, "app") if t["spec"]["cmd"][0] == "sleep"} == old
    # a new update resumes the rollout: here one that fixes it
    c.ok("update", "--args", "sleep 999999", "app")
    poll(lambda: status(c, "app").get("state") == "completed", 60, what="the fixed rollout to complete")

    # with --update-failure-action rollback the managers go back to the previous spec by themselves
    r = c.cli(
        None, "update", "--update-failure-action", "rollback", "--rollback-parallelism", "2",
        "--args", "sh -c 'exit 3'", "app", timeout=180,
    )  # fmt: skip
    assert r.returncode == 1 and "svc: app: update rolled back: update rolled back due to failure" in r.stderr, r
    st = status(c, "app")
    assert st["state"] == "rollback_completed" and st["message"] == "rollback completed"
    assert len(live(c, "app")) == 4 and all(t["spec"]["cmd"] == ["sleep", "999999"] for t in live(c, "app"))
    poll(lambda: c.converged("app", 4), 60, what="four tasks of the previous spec")
    pretty = c.ok("inspect", "--pretty", "app")
    assert "UpdateStatus:\n State:\t\trollback_completed\n" in pretty and " Message:\trollback completed" in pretty
    assert " On failure:\trollback" not in pretty  # the previous spec came back, with its own policy
