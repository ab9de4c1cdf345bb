"""README's first command, literally: `./deploy/up.sh` from a host where svc never ran, then the
commands README shows after it; a second `up.sh` changes nothing; `kill -9` and `up.sh` again keep
the containers and the cluster.

The data and run dirs and the daemon's log go to the test's own directory through the documented
SVC_* overrides; everything else (ports, bridge, cgroup parent) is up.sh's own default, so the
test skips where something already holds those.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from helpers import REPO, cgroup_children, delete_bridge, mounts_under, netns_list, poll, remove_cgroup_parent
from readme import shell_block

from svc import defaults

pytestmark = pytest.mark.root

PORTS = (defaults.MANAGER_GRPC_PORT, defaults.MANAGER_RAFT_PORT, defaults.MANAGER_METRICS_PORT, 8080)


def _busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Host:
    def __init__(self, base: str) -> None:
        self.data_dir = os.path.join(base, "data")
        self.run_dir = os.path.join(base, "run")
        self.log = os.path.join(base, "svcd.log")
        self.env = {
            **os.environ,
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SVC_DATA_DIR": self.data_dir,
            "SVC_RUN_DIR": self.run_dir,
            "SVC_LOG_FILE": self.log,
        }
        self.env.pop("PYTHONPATH", None)  # up.sh runs what install.sh installed, as a user's shell would

    def sh(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, command: str, timeout: float = 300) -> str:
        r = self.sh(command, timeout)
        assert r.returncode == 0, f"`{command}` failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n{self.tail()}"
        return r.stdout

    def json(self, command: str) -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(line) for line in self.ok(command + " --format json").splitlines() if line.strip()]

    def daemon_pid(self) -> int:
        with open(os.path.join(self.data_dir, "svcd.lock")) as f:
            return int(f.read().strip())

    def tail(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "----- svcd.log\n" + f.read()[-6000:]
        except FileNotFoundError:
            return "(no svcd.log)"

    def state(self) -> dict[str, object]:
        """What must not change across a second up.sh or a restart."""
        return {
            "nodes": sorted(n["id"] for n in self.json("svc node ls")),
            "services": sorted((s["id"], s["spec"]["name"]) for s in self.json("svc ls")),
            "containers": sorted(c["id"] for c in self.json("svc container ls")),
        }


@pytest.fixture
def fresh_host(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    busy = [p for p in PORTS if _busy(p)]
    if busy or os.path.exists(os.path.join(defaults.RUN_DIR, defaults.MANAGER_ADDR_FILE)):
        pytest.skip(f"svc's default ports are in use here ({busy}): up.sh needs a host of its own")
    h = Host(str(tmp_path_factory.mktemp("first-run")))
    before = set(netns_list())
    yield h
    _teardown(h)
    left = [f"mount {m}" for m in mounts_under(os.path.dirname(h.data_dir))]
    left += [f"cgroup {c}" for c in cgroup_children(defaults.CGROUP_PARENT)]
    left += [f"netns {n}" for n in set(netns_list()) - before]
    assert not left, f"the first run left things behind: {left}"


def _teardown(h: Host) -> None:
    """Remove the services (their containers go with them), then stop the daemon."""
    if os.path.exists(os.path.join(h.run_dir, defaults.MANAGER_ADDR_FILE)):
        names = h.sh("svc ls -q").stdout.split()
        if names:
            h.sh("svc rm " + " ".join(names))
        poll(lambda: not h.sh("svc container ls -aq").stdout.strip(), 60, what="the services' containers to go")
        # and the routing mesh's namespace (up.sh's demo publishes 8080), once the node's next peer set drops
        # it: a stopped daemon leaves its networks for the containers it would adopt (live restore)
        netns_dir = os.path.join(h.run_dir, "engine", "netns")
        poll(lambda: not os.path.isdir(netns_dir) or not any(n.startswith("ov-") for n in os.listdir(netns_dir)),
             60, what="the node's overlay namespaces to go")  # fmt: skip
    try:
        pid = h.daemon_pid()
        os.kill(pid, signal.SIGTERM)
        poll(lambda: not os.path.exists(f"/proc/{pid}"), 20, what="svcd up to stop")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
    delete_bridge(defaults.BRIDGE_NAME)
    remove_cgroup_parent(defaults.CGROUP_PARENT)


def test_readme_first_run(fresh_host: Host) -> None:
    h = fresh_host
    assert not os.path.exists(h.data_dir) and not os.path.exists(h.run_dir)
    out = h.ok("./deploy/up.sh", timeout=900)
    assert "svc is up" in out, out
    assert "demo" in h.ok("svc ls")

    commands = shell_block("After `up.sh`:")
    assert commands[0].startswith("curl"), commands
    outputs = {c: h.ok(c) for c in commands}  # README's commands, as written, in order
    assert "hello from svc" in outputs[commands[0]]
    web = [t for t in h.json("svc ps web") if t.get("desired_state") == "running"]
    assert len(web) == 5 and all(t["status"]["state"] == "running" for t in web), web
    containers = [c for c in h.json("svc container ls") if c["name"].startswith("web.")]
    assert len(containers) == 5, containers

    before = h.state()
    h.ok("./deploy/up.sh", timeout=300)  # a second time changes nothing
    assert h.state() == before

    os.kill(h.daemon_pid(), signal.SIGKILL)
    time.sleep(0.5)
    h.ok("./deploy/up.sh", timeout=300)  # the daemon comes back: same cluster, the same containers
    poll(lambda: h.state() == before, 60, what="the cluster and its containers after kill -9 and up.sh")
    assert h.ok("svc ls --format '{{.Replicas}}'").split() == ["1/1", "5/5"]
