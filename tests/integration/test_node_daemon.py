"""`svcd node` and the `svc container`/`svc image` CLI as a user runs them; live restore after kill -9."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO, poll, run_cli

pytestmark = pytest.mark.root


def test_run_streams_output_and_exits_with_the_containers_code(node_daemon) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon
    r = run_cli("container", "run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3", env=env)
    assert r.returncode == 3
    assert r.stdout == "to-out\n"
    assert r.stderr == "to-err\n"
    assert run_cli("container", "ls", "-aq", env=env).stdout == ""


def test_detached_container_lifecycle_through_the_cli(node_daemon) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon
    r = run_cli("container", "run", "-d", "--name", "web", "-e", "A=1", "busybox", "sleep", "1000", env=env)
    assert r.returncode == 0, r.stderr
    ls = run_cli("container", "ls", env=env).stdout
    assert "web" in ls and "Up" in ls
    assert run_cli("container", "exec", "web", "sh", "-c", "echo $A", env=env).stdout == "1\n"
    dup = run_cli("container", "run", "-d", "--name", "web", "busybox", "true", env=env)
    assert dup.returncode != 0 and "already in use" in dup.stderr
    assert run_cli("container", "stop", "-t", "1", "web", env=env).returncode == 0
    assert "Exited (" in run_cli("container", "ls", "-a", env=env).stdout
    assert run_cli("container", "rm", "web", env=env).returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "80", "busybox"], "publish needs HOST_PORT:CONTAINER_PORT"),
        (["-p", "99999:80", "busybox"], "ports are numbers from 1 to 65535"),
        (["--memory", "lots", "busybox"], "invalid memory limit"),
        (["--memory", "1k", "busybox"], "memory limit too low"),
        (["--cpus", "-1", "busybox"], "invalid CPU count"),
        (["--runtime", "kata", "busybox"], "unknown runtime"),
        (["--network", "mesh", "busybox"], "unknown network"),
        (["--pull", "never", "nosuchimage"], "no such image: nosuchimage"),  # (missing would ask Docker Hub)
    ],
)
def test_bad_input_gets_one_line_and_leaves_nothing(node_daemon, args, message) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon
    r = run_cli("container", "run", "-d", *args, env=env)
    assert r.returncode != 0
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert run_cli("container", "ls", "-aq", env=env).stdout == ""


def test_hostile_archive_is_refused_by_the_cli(node_daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from imagebuild import Entry, ImageSpec, write_docker_save

    _, env = node_daemon
    path = write_docker_save(str(tmp_path / "evil.tar"), ImageSpec(layers=[[Entry("../../x", b"x")]], tag="evil"))
    r = run_cli("image", "import", path, env=env)
    assert r.returncode != 0
    assert "points outside the layer" in r.stderr and len(r.stderr.splitlines()) == 1
    assert "evil" not in run_cli("image", "ls", env=env).stdout


def test_containers_survive_kill_9_of_the_daemon(node_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon, env = node_daemon
    loop = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"
    r = run_cli("container", "run", "-d", "--name", "ticker", "busybox", "sh", "-c", loop, env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("container", "run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 5", env=env)
    assert r.returncode == 0, r.stderr
    pid = int(run_cli("container", "inspect", "ticker", env=env).stdout.split('"pid": ')[1].split(",")[0])
    daemon.kill9()
    # While the daemon is down: the container runs on, `short` exits and conmon records its code.
    poll(lambda: _ticks(env) is None, 2)  # the API is gone
    os.kill(pid, 0)
    import time

    time.sleep(1.5)
    os.kill(pid, 0)
    daemon.start()
    poll(lambda: run_cli("container", "ls", env=env).returncode == 0, 30, what="the restarted daemon")
    ls = run_cli("container", "ls", "-a", env=env).stdout
    assert "ticker" in ls and "Exited (5)" in ls
    ticks = poll(lambda: (n := _ticks(env)) and n > 20 and n, 20, what="logs from before and during the restart")
    assert ticks > 20
    logs = run_cli("container", "logs", "ticker", env=env).stdout.splitlines()
    numbers = [int(line.split()[1]) for line in logs]
    assert numbers == list(range(len(numbers)))  # no line lost across the restart


def _ticks(env) -> int | None:  # type: ignore[no-untyped-def]
    r = run_cli("container", "logs", "ticker", env=env)
    return len(r.stdout.splitlines()) if r.returncode == 0 else None


def test_daemon_refuses_to_start_without_runtime_or_conmon(engine_env) -> None:  # type: ignore[no-untyped-def]
    base = [sys.executable, "-m", "svcd", *engine_env.node_args("--metrics-addr", "")]
    env = {**os.environ, "PYTHONPATH": REPO}
    r = subprocess.run([*base, "--conmon", "/nonexistent/conmon"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "svcd: /nonexistent/conmon is not installed" in r.stderr
    r = subprocess.run(base, capture_output=True, text=True, env={**env, "PATH": "/nonexistent"}, timeout=60)
    assert r.returncode != 0 and "runtime runc cannot be used: runc is not installed" in r.stderr
    assert "Traceback" not in r.stderr


def test_engine_socket_is_root_only(node_daemon, engine_env) -> None:  # type: ignore[no-untyped-def]
    mode = os.stat(os.path.join(engine_env.run_dir, "engine.sock")).st_mode & 0o777
    assert mode == 0o600
