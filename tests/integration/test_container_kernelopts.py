"""`--init`, `--sysctl`, `--ulimit` and `--add-host` on a real `svcd node` (issue #15 item 3, as flags).

A container run with all four has tini as PID 1 (its command a child of it), the sysctl in its own
network namespace (the host's unchanged), the rlimits (an exec's too), and the host line in /etc/hosts; a sysctl that
is not namespaced, one with host networking, a bad ulimit or host: one line, nothing made.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import run_cli

pytestmark = pytest.mark.root

SCRIPT = (
    "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; "
    "ulimit -n; ulimit -Hn; grep -w db /etc/hosts"
)


def test_the_four_flags_in_a_real_container(node_daemon: Any) -> None:
    _, env = node_daemon
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        host_value = f.read()
    r = run_cli(
        "container", "run", "--rm", "--init", "--sysctl", "net.ipv4.ip_unprivileged_port_start=99",
        "--ulimit", "nofile=512:1024", "--add-host", "db:10.1.2.3", "busybox", "sh", "-c", SCRIPT, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    init, sysctl, soft, hard, hosts = r.stdout.splitlines()
    assert init.startswith("/sbin/docker-init -- sh -c")
    assert (sysctl, soft, hard, hosts) == ("99", "512", "1024", "10.1.2.3\tdb")
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        assert f.read() == host_value
    # `exec` runs with the container's rlimits, as Docker's.
    r = run_cli("container", "run", "-d", "--ulimit", "nofile=512:1024", "busybox", "sleep", "1000", env=env)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    got = run_cli("container", "exec", cid, "sh", "-c", "ulimit -n; ulimit -Hn", env=env)
    assert got.returncode == 0 and got.stdout.split() == ["512", "1024"], got
    assert run_cli("container", "rm", "-f", cid, env=env).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sysctl", "kernel.pid_max=100000"], "sysctl kernel.pid_max is not allowed"),
        (["--sysctl", "net.ipv4.ip_forward=1", "--network", "host"], "cannot be set with host networking"),
        (["--ulimit", "nofile=10:5"], "the soft limit 10 is above the hard limit 5"),
        (["--ulimit", "fds=1"], "unknown ulimit 'fds'"),
        (["--add-host", "db"], "invalid extra host 'db': use HOST:IP"),
    ],
)
def test_bad_flags_one_line_nothing_made(node_daemon: Any, args: list[str], message: str) -> None:
    _, env = node_daemon
    r = run_cli("container", "run", "-d", *args, "busybox", "true", env=env)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert run_cli("container", "ls", "-aq", env=env).stdout == ""
