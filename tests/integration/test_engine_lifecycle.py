"""The container lifecycle conformance suite: run once per OCI runtime (runc, crun)."""

from __future__ import annotations

import time

import pytest
from helpers import poll

from svc.errors import Conflict
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root


def output(engine, cid: str) -> str:  # type: ignore[no-untyped-def]
    return b"".join(e.data for e in engine.logs(cid)).decode()


def test_run_reads_output_and_exit_code(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["sh", "-c", "echo out; echo err >&2; exit 7"]))
    done = any_engine.wait(c.id, timeout=30)
    assert done.state == "exited" and done.exit_code == 7
    entries = list(any_engine.logs(c.id))
    assert [(e.stream, e.data) for e in entries] == [("stdout", b"out\n"), ("stderr", b"err\n")]
    assert done.finished_at >= done.started_at > 0


def test_pid_1_in_own_namespace_with_own_hostname(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", hostname="box1", cmd=["sh", "-c", "echo $$; hostname"]))
    any_engine.wait(c.id, timeout=30)
    assert output(any_engine, c.id).split() == ["1", "box1"]


def test_default_hostname_is_short_id(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["hostname"]))
    any_engine.wait(c.id, timeout=30)
    assert output(any_engine, c.id).strip() == c.id[:12]


def test_stop_sends_signal_then_kills_after_grace(any_engine) -> None:  # type: ignore[no-untyped-def]
    # PID 1 ignores SIGTERM: the stop must fall back to SIGKILL after the grace period.
    c = any_engine.run(
        pb.ContainerSpec(
            image="busybox", cmd=["sh", "-c", "trap '' TERM; while true; do sleep 1; done"], stop_grace_seconds=1
        )
    )
    stopped = any_engine.stop(c.id)
    assert stopped.state == "exited" and stopped.exit_code == 137


def test_stop_signal_reaches_pid_1(any_engine) -> None:  # type: ignore[no-untyped-def]
    script = "trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done"
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["sh", "-c", script], stop_signal="SIGUSR1"))
    poll(lambda: "ready" in output(any_engine, c.id), 10, what="the trap to be installed")
    stopped = any_engine.stop(c.id, grace=10)
    assert stopped.exit_code == 0
    assert "got-usr1" in output(any_engine, c.id)


def test_kill_and_remove(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    with pytest.raises(Conflict):
        any_engine.remove(c.id)
    killed = any_engine.kill(c.id, "SIGKILL")
    assert killed.state == "exited" and killed.exit_code == 137
    any_engine.remove(c.id)
    assert all(x.id != c.id for x in any_engine.containers(all=True))


def test_exec_runs_in_the_container(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"], env=["GREETING=hi"]))
    code, out, _err = any_engine.exec(c.id, ["sh", "-c", "echo $GREETING; cat /proc/1/cmdline | tr '\\0' ' '; exit 3"])
    assert code == 3
    assert out.decode().split() == ["hi", "sleep", "1000"]


def test_restart_after_exit_keeps_logs(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["echo", "again"]))
    any_engine.wait(c.id, timeout=30)
    any_engine.start(c.id)
    any_engine.wait(c.id, timeout=30)
    assert output(any_engine, c.id) == "again\nagain\n"


def test_memory_limit_oom_kill_is_reported(any_engine) -> None:  # type: ignore[no-untyped-def]
    hog = "x=a; while true; do x=$x$x; done"
    c = any_engine.run(
        pb.ContainerSpec(image="busybox", cmd=["sh", "-c", hog], resources=pb.Resources(memory_bytes=16 << 20))
    )
    done = any_engine.wait(c.id, timeout=60)
    assert done.state == "exited"
    assert done.oom_killed, done
    assert done.exit_code == 137


def test_stats_reads_the_cgroup(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(
        pb.ContainerSpec(
            image="busybox", cmd=["sleep", "1000"], resources=pb.Resources(memory_bytes=64 << 20, pids_limit=50)
        )
    )
    [(_info, usage)] = any_engine.stats([c.id])
    assert usage.memory_limit_bytes == 64 << 20
    assert usage.pids >= 1
    assert usage.memory_bytes > 0


def test_logs_follow_ends_when_container_exits(any_engine) -> None:  # type: ignore[no-untyped-def]
    c = any_engine.run(
        pb.ContainerSpec(image="busybox", cmd=["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"])
    )
    start = time.monotonic()
    lines = [e.data for e in any_engine.logs(c.id, follow=True)]
    assert lines == [b"1\n", b"2\n", b"3\n"]
    assert time.monotonic() - start < 30
