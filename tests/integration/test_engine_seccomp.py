"""Seccomp: Docker's default profile on every container, `--security-opt seccomp=unconfined|FILE`, bad options.

Inside a container `/proc/self/status` says `Seccomp: 2` (filter mode) and the profile's refusals are
real: `unshare -U` (a user namespace) is not among the default profile's syscalls without
CAP_SYS_ADMIN and fails with EPERM; unconfined, it succeeds.
"""

from __future__ import annotations

import json

import pytest
from helpers import poll, run_cli

from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root

PROBE = "grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?"


def _output(engine, spec: pb.ContainerSpec) -> str:  # type: ignore[no-untyped-def]
    c = engine.run(spec)
    engine.wait(c.id, timeout=30)
    return b"".join(e.data for e in engine.logs(c.id)).decode()


def _mode(text: str) -> int:
    return int(text.split("Seccomp:")[1].split()[0])


def test_default_profile_filters_and_blocks_user_namespaces(any_engine) -> None:  # type: ignore[no-untyped-def]
    out = _output(any_engine, pb.ContainerSpec(image="busybox", cmd=["sh", "-c", PROBE]))
    assert _mode(out) == 2, out
    assert "Operation not permitted" in out and "unshare=0" not in out, out
    # exec'd processes run under the container's filter too
    c = any_engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    code, out_b, _ = any_engine.exec(c.id, ["grep", "Seccomp:", "/proc/self/status"])
    assert code == 0 and _mode(out_b.decode()) == 2
    code, _, err = any_engine.exec(c.id, ["unshare", "-U", "true"])
    assert code != 0 and b"Operation not permitted" in err


def test_unconfined_runs_without_a_filter(any_engine) -> None:  # type: ignore[no-untyped-def]
    spec = pb.ContainerSpec(image="busybox", cmd=["sh", "-c", PROBE], seccomp=pb.SeccompConfig(mode="unconfined"))
    out = _output(any_engine, spec)
    assert _mode(out) == 0, out
    assert "unshare=0" in out, out


def test_cap_sys_admin_enables_the_profiles_extra_syscalls(engine) -> None:  # type: ignore[no-untyped-def]
    # The profile's CAP_SYS_ADMIN rule allows unshare and clone with namespace flags: still filtered (mode 2).
    out = _output(engine, pb.ContainerSpec(image="busybox", cmd=["sh", "-c", PROBE], cap_add=["SYS_ADMIN"]))
    assert _mode(out) == 2 and "unshare=0" in out, out


def test_custom_profile_from_the_spec(engine) -> None:  # type: ignore[no-untyped-def]
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    spec = pb.ContainerSpec(
        image="busybox",
        cmd=["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/x; echo mkdir=$?"],
        seccomp=pb.SeccompConfig(mode="custom", profile=json.dumps(profile)),
    )
    out = _output(engine, spec)
    assert _mode(out) == 2 and "Permission denied" in out and "mkdir=1" in out, out


def test_invalid_profile_is_refused_and_leaves_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    bad = pb.SeccompConfig(mode="custom", profile='{"defaultAction": "SCMP_ACT_MAYBE"}')
    with pytest.raises(InvalidArgument, match="defaultAction"):
        engine.run(pb.ContainerSpec(image="busybox", cmd=["true"], seccomp=bad))
    assert engine.containers(all=True) == []


def test_cli_security_opt(node_daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon
    run = ("container", "run", "--rm", "--security-opt")
    r = run_cli(*run, "seccomp=unconfined", "busybox", "sh", "-c", PROBE, env=env)
    assert r.returncode == 0, r.stderr
    assert _mode(r.stdout) == 0 and "unshare=0" in r.stdout
    deny_chmod = tmp_path / "deny-chmod.json"
    deny_chmod.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    r = run_cli(*run, f"seccomp={deny_chmod}", "busybox", "chmod", "0", "/", env=env)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


def _bad_opts(tmp_path) -> list[tuple[list[str], str]]:  # type: ignore[no-untyped-def]
    not_json = tmp_path / "not-json.json"
    not_json.write_text("{ this is not json")
    bad_action = tmp_path / "bad-action.json"
    bad_action.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}))
    unreadable = tmp_path / "nosuchdir" / "profile.json"
    return [
        (["--security-opt", "apparmor=unconfined"], "unsupported security option 'apparmor=unconfined'"),
        (["--security-opt", "seccomp"], "unsupported security option 'seccomp'"),
        (["--security-opt", f"seccomp={unreadable}"], f"cannot read seccomp profile {unreadable}"),
        (["--security-opt", f"seccomp={not_json}"], f"invalid seccomp profile {not_json}: not JSON"),
        (["--security-opt", f"seccomp={bad_action}"], "syscalls[0] has unknown action None"),
    ]


def test_cli_refuses_a_bad_security_opt_with_one_line(node_daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon
    for args, message in _bad_opts(tmp_path):
        r = run_cli("container", "run", "-d", *args, "busybox", "true", env=env)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert run_cli("container", "ls", "-aq", env=env).stdout == ""


def test_services_carry_seccomp_to_their_tasks(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    c.start_manager(c.add_host())
    node = c.start_node(c.add_host())
    c.import_image(node, c.busybox)
    for args, message in _bad_opts(tmp_path):
        r = c.cli(None, "create", "-d", "--name", "bad", *args, "busybox", "true")
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert c.ok("ls", "-q") == ""

    loop = "while true; do grep Seccomp: /proc/self/status; sleep 1; done"
    c.ok("create", "--name", "filtered", "busybox", "sh", "-c", loop)
    c.ok("create", "--name", "open", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", loop)
    poll(lambda: "Seccomp:\t2" in c.ok("logs", "filtered"), 30, what="the default profile's task output")
    poll(lambda: "Seccomp:\t0" in c.ok("logs", "open"), 30, what="the unconfined task's output")
    assert "Seccomp:\t0" not in c.ok("logs", "filtered")
    # `svc update --security-opt` replaces the tasks with unconfined ones
    c.ok("update", "--security-opt", "seccomp=unconfined", "filtered")
    poll(lambda: "Seccomp:\t0" in c.ok("logs", "filtered"), 60, what="the updated task's output")
