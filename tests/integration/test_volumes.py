"""Volumes and mounts in real containers (issue #15 item 3): a `svcd node` and the CLI, then one small cluster.

A named volume outlives its container and its task; a new volume gets the image's content at its mount
point once; readonly is enforced; binds and tmpfs (size, mode) as asked; `volume rm` of a volume in use is
refused naming the container; `prune` removes only unused ones; a bad mount is one line, and leaves no
container and no volume.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from helpers import poll, run_cli

pytestmark = pytest.mark.root


def _ok(env: dict[str, str], *args: str) -> str:
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _run(env: dict[str, str], *args: str) -> Any:
    return run_cli("container", "run", "--rm", *args, env=env)


def test_named_volumes_binds_and_tmpfs(node_daemon: Any, engine_env: Any, tmp_path: Any) -> None:
    _, env = node_daemon
    # Data outlives the container; the volume is made on first use.
    assert _run(env, "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f").returncode == 0
    assert _run(env, "--mount", "type=volume,source=data,target=/data", "busybox", "cat", "/data/f").stdout == "kept\n"
    [doc] = json.loads(_ok(env, "volume", "inspect", "data"))
    assert doc["Mountpoint"] == os.path.join(engine_env.data_dir, "node", "volumes", "data", "_data")
    assert doc["Driver"] == "local" and doc["Scope"] == "local"
    assert _ok(env, "volume", "ls", "-q").split() == ["data"]

    # Copy-up: the image's /etc in a new volume, on its first mount only.
    r = _run(env, "--mount", "type=volume,source=etc,target=/etc,volume-label=app=x", "busybox", "ls", "/etc")
    assert {"passwd", "group"} <= set(r.stdout.split()), r.stderr
    assert os.path.isfile(os.path.join(engine_env.data_dir, "node", "volumes", "etc", "_data", "passwd"))
    assert _run(env, "-v", "etc:/etc", "busybox", "rm", "/etc/group").returncode == 0
    assert _run(env, "-v", "etc:/etc", "busybox", "test", "-e", "/etc/group").returncode == 1  # not copied again
    assert _ok(env, "volume", "ls", "-q", "-f", "label=app=x").split() == ["etc"]

    # Readonly, for a volume and for a bind.
    r = _run(env, "-v", "data:/data:ro", "busybox", "sh", "-c", "echo x > /data/g")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    host = tmp_path / "share"
    host.mkdir()
    (host / "in").write_text("from host\n")
    assert _run(env, "--mount", f"type=bind,source={host},target=/x", "busybox", "cat", "/x/in").stdout == "from host\n"
    assert _run(env, "-v", f"{host}:/x", "busybox", "sh", "-c", "echo back > /x/out").returncode == 0
    assert (host / "out").read_text() == "back\n"
    r = _run(env, "--mount", f"type=bind,source={host},target=/x,readonly", "busybox", "touch", "/x/y")
    assert r.returncode != 0 and not (host / "y").exists()

    # tmpfs with a size and a mode.
    tmpfs = "type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1770"
    r = _run(env, "--mount", tmpfs, "busybox", "cat", "/proc/mounts")
    [line] = [x for x in r.stdout.splitlines() if " /scratch " in x]
    assert line.startswith("tmpfs /scratch tmpfs ") and "size=1024k" in line and "mode=1770" in line, line
    assert "noexec" in line and "nosuid" in line

    # In use by a container in any state: refused, naming it.
    _ok(env, "container", "create", "--name", "holder", "-v", "data:/data", "busybox", "true")
    r = run_cli("volume", "rm", "data", env=env)
    assert r.returncode != 0 and "in use by container holder" in r.stderr and len(r.stderr.splitlines()) == 1
    _ok(env, "volume", "create", "--label", "k=v", "spare")
    assert _ok(env, "volume", "ls", "-q", "-f", "dangling=true").split() == ["etc", "spare"]
    out = _ok(env, "volume", "prune", "-f")
    assert "Deleted Volumes:" in out and "etc" in out and "spare" in out and "data" not in out
    assert _ok(env, "volume", "ls", "-q").split() == ["data"]
    _ok(env, "container", "rm", "holder")
    assert _ok(env, "volume", "rm", "data") == "data\n"
    assert _ok(env, "volume", "ls", "-q") == ""
    r = run_cli("volume", "rm", "data", env=env)
    assert r.returncode != 0 and "no such volume: data" in r.stderr

    # A start that fails after its volume was made (a directory over a file) takes the volume back.
    r = run_cli("container", "run", "-d", "-v", "late:/bin/busybox", "busybox", "true", env=env)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _ok(env, "volume", "ls", "-q") == "" and _ok(env, "container", "ls", "-aq") == ""
    assert run_cli("volume", "rm", "-f", "data", env=env).returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mount", "type=bind,source=/nonexistent-svc-test,target=/x"], "bind source path does not exist"),
        (["--mount", "type=volume,source=fresh,target=rel"], "must be an absolute path"),
        (["--mount", "type=tmpfs,target=/t,tmpfs-size=huge"], "invalid tmpfs-size"),
        (["--mount", "type=nfs,source=fresh,target=/x"], "use volume, bind or tmpfs"),
        (["-v", "fresh"], "invalid volume 'fresh'"),
        (["-v", "fresh:/a", "--mount", "type=tmpfs,target=/a"], "two mounts at /a"),
        (["-v", "fresh:/a", "-v", "/nonexistent-svc-test:/b"], "bind source path does not exist"),
        (["-v", "DATA_DIR:/a"], "inside svc's own directory"),
    ],
)
def test_bad_mounts_one_line_nothing_made(node_daemon: Any, engine_env: Any, args: list[str], message: str) -> None:
    _, env = node_daemon
    args = [a.replace("DATA_DIR", engine_env.data_dir) for a in args]  # svcd's data dir, not only the engine's
    r = run_cli("container", "run", "-d", *args, "busybox", "true", env=env)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert run_cli("container", "ls", "-aq", env=env).stdout == ""
    assert not os.path.exists(os.path.join(engine_env.data_dir, "node", "volumes", "fresh"))


def test_service_volume_survives_a_task_replacement(make_cluster: Any) -> None:
    c = make_cluster()
    c.start_manager(c.add_host())
    n = c.start_node(c.add_host())
    c.import_image(n, c.busybox)
    r = c.cli(
        None,
        "create", "--name", "db", "--mount", "type=volume,source=dbdata,target=/data",
        "busybox", "sh", "-c", "hostname >> /data/log; exec sleep 1000000",
        timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    bad = c.cli(None, "create", "--name", "bad", "--mount", "type=volume,source=x,target=/d", "busybox", "true")
    assert bad.returncode != 0 and "volume name 'x'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

    def tasks() -> list[dict[str, Any]]:
        return [
            ctr
            for ctr in c.running_containers(n)
            if ctr.get("labels", {}).get("svc.service.name") == "db" and ctr.get("state") == "running"
        ]

    assert " Target:\t/data\n  Source:\tdbdata\n" in c.ok("inspect", "--pretty", "db")
    [first] = tasks()
    log = os.path.join(n.data_dir, "node", "volumes", "dbdata", "_data", "log")
    poll(lambda: os.path.exists(log) and len(open(log).read().split()) == 1, 30, what="the first task's line")
    r = c.cli(None, "update", "--env-add", "GEN=2", "db", timeout=180)
    assert r.returncode == 0, r.stderr
    poll(lambda: [t["id"] for t in tasks()] not in ([], [first["id"]]), 60, what="a new task")
    poll(lambda: len(open(log).read().split()) == 2, 30, what="the second task's line")
    [second] = tasks()
    env = {"SVC_RUN_DIR": n.run_dir}
    assert run_cli("container", "exec", second["id"], "cat", "/data/log", env=env).stdout == open(log).read()
    r = run_cli("volume", "rm", "dbdata", env=env)
    assert r.returncode != 0 and "in use by container" in r.stderr
