"""A daemon that cannot start says why in one line and exits within seconds, leaving nothing
running and nothing half-made; SIGTERM stops a daemon at any point of its start-up."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from helpers import REPO, poll

_hosts = itertools.count(10)
EXIT_WITHIN = 10.0


def _addr() -> str:
    return f"127.0.{90 + os.getpid() % 10}.{next(_hosts) % 240 + 10}"


def svcd(*args: str, timeout: float = 30) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": REPO}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "svcd", *args], capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stderr, time.monotonic() - t0


def manager_args(data: str, host: str, *extra: str) -> list[str]:
    return [
        "manager",
        "--data-dir",
        data,
        "--run-dir",
        data + "-run",
        "--listen-addr",
        f"{host}:4242",
        "--metrics-addr",
        f"{host}:9424",
        *extra,
    ]


@pytest.fixture
def listener() -> Iterator[object]:
    """Occupy HOST:PORT like another program would."""
    held: list[socket.socket] = []

    def hold(addr: str) -> socket.socket:
        host, port = addr.rsplit(":", 1)
        s = socket.socket()
        s.bind((host, int(port)))
        s.listen()
        held.append(s)
        return s

    yield hold
    for s in held:
        s.close()


def _one_line_failure(code: int, err: str, took: float, expected: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0, err
    assert took < EXIT_WITHIN, f"took {took:.1f} s"
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("svcd: ") and expected in lines[-1], err


@pytest.mark.parametrize(
    ("port", "what"), [(4243, "raft port"), (4242, "API address"), (4244, "join address"), (9424, "metrics address")]
)
def test_an_address_in_use_is_one_line_and_nothing_is_made(tmp_path, listener, port: int, what: str) -> None:  # type: ignore[no-untyped-def]
    host = _addr()
    listener(f"{host}:{port}")
    data = str(tmp_path / "data")
    code, err, took = svcd(*manager_args(data, host, "--init"))
    _one_line_failure(code, err, took, f"{what} {host}:{port} is in use")
    assert not os.path.exists(os.path.join(data, "manager")), "a cluster was half-made"
    assert not os.path.exists(os.path.join(data, "role.json"))


def test_a_held_data_dir_a_damaged_record_and_the_wrong_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    host = _addr()
    data = str(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": REPO}
    first = subprocess.Popen(
        [sys.executable, "-m", "svcd", *manager_args(data, host, "--init")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        poll(lambda: os.path.exists(os.path.join(data, "role.json")), 30, what="the first manager to start")
        code, err, took = svcd(*manager_args(data, _addr()))
        _one_line_failure(code, err, took, f"data dir {data} is in use by another svcd (pid {first.pid})")
        code, err, took = svcd("up", "--data-dir", data, "--run-dir", data + "-run2")
        _one_line_failure(code, err, took, "is in use by another svcd")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(20)
    assert json.load(open(os.path.join(data, "role.json")))["role"] == "manager"

    code, err, took = svcd("up", "--data-dir", data, "--run-dir", data + "-run2")
    _one_line_failure(code, err, took, f"{data} is the data dir of a manager: run `svcd manager` with it")
    code, err, took = svcd("node", "--data-dir", data, "--join", f"{host}:4242", "--metrics-addr", "")
    _one_line_failure(code, err, took, "is the data dir of a manager")

    state = os.path.join(data, "manager", "state.json")
    with open(state, "w") as f:
        f.write('{"cluster_id": ')
    code, err, took = svcd(*manager_args(data, host))
    _one_line_failure(code, err, took, f"manager state {state} is unreadable or damaged")

    with open(os.path.join(data, "role.json"), "w") as f:
        f.write("garbage")
    code, err, took = svcd(*manager_args(data, host))
    _one_line_failure(code, err, took, "role.json is unreadable or damaged")


def test_sigterm_during_start_up_ends_the_daemon(tmp_path, listener) -> None:  # type: ignore[no-untyped-def]
    """A join to a manager that accepts connections but never answers waits in start-up: SIGTERM ends it."""
    silent = _addr()
    listener(f"{silent}:4244")  # the join port: TLS never completes
    data = str(tmp_path / "data")
    token = "SWMTKN-1-" + "a" * 52 + "-" + "b" * 32
    env = {**os.environ, "PYTHONPATH": REPO}
    args = manager_args(data, _addr(), "--join", f"{silent}:4242", "--token", token)
    p = subprocess.Popen([sys.executable, "-m", "svcd", *args], stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(2.0)
    assert p.poll() is None, "the join should still be waiting"
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code = p.wait(30)
    took = time.monotonic() - t0
    err = p.stderr.read() if p.stderr else ""
    assert took < EXIT_WITHIN, f"SIGTERM took {took:.1f} s"
    assert code == 0 and "stopping during start-up" in err, err
    assert not os.path.exists(os.path.join(data, "manager", "state.json")), "a half-joined manager was recorded"


@pytest.mark.root
@pytest.mark.parametrize("delay", [0.4, 1.0, 2.0, 4.0])
def test_sigterm_at_any_moment_of_svcd_up(tmp_path, delay: float) -> None:  # type: ignore[no-untyped-def]
    """From before Raft has a leader to after the node has registered: SIGTERM ends `svcd up` in time."""
    from helpers import delete_bridge, free_port, remove_cgroup_parent

    host = _addr()
    tag = f"{os.getpid() % 1000}{int(delay * 10)}"
    bridge, cgroup = f"svu{tag}"[:15], f"svc-up-test-{tag}"
    args = [
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        "--run-dir",
        str(tmp_path / "run"),
        "--listen-addr",
        f"{host}:4242",
        "--metrics-addr",
        "",
        "--node-metrics-addr",
        f"127.0.0.1:{free_port()}",
        "--bridge",
        bridge,
        "--subnet",
        f"10.{190 + os.getpid() % 10}.{int(delay * 10)}.0/24",
        "--cgroup-parent",
        cgroup,
    ]
    env = {**os.environ, "PYTHONPATH": REPO}
    p = subprocess.Popen([sys.executable, "-m", "svcd", *args], stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(delay)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        took = time.monotonic() - t0
        err = p.stderr.read() if p.stderr else ""
        assert took < EXIT_WITHIN, f"SIGTERM after {delay} s took {took:.1f} s to end svcd up:\n{err}"
        assert "Traceback" not in err, err
    finally:
        if p.poll() is None:
            p.kill()
        delete_bridge(bridge)
        remove_cgroup_parent(cgroup)
