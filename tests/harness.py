"""Real clusters for tests and benchmarks: managers and nodes as separate `svcd` processes.

Each host has its own address (127.0.0.x on loopback, or an address inside a network
namespace the harness creates), its own data and run directories, bridge, subnet and
cgroup parent. `teardown()` removes every container, daemon, bridge, namespace and cgroup,
whatever state the test left them in.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from helpers import (
    Daemon,
    cgroup_children,
    delete_bridge,
    delete_portmap_rules,
    mounts_under,
    poll,
    portmap_rules,
    remove_cgroup_parent,
    run_cli,
)

API_PORT, RAFT_PORT = 4242, 4243
_addresses = itertools.cycle(range(10, 250))  # loopback hosts unique within a test run


@dataclass
class Host:
    name: str
    addr: str  # where its daemons listen
    base: str  # its directory
    netns: str | None = None
    manager: Daemon | None = None
    node: Daemon | None = None
    index: int = 0
    bridge: str = ""
    subnet: str = ""
    cgroup_parent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def run_dir(self) -> str:
        return os.path.join(self.base, "run")

    @property
    def api(self) -> str:
        return f"{self.addr}:{API_PORT}"

    @property
    def admin_dir(self) -> str:
        """The local admin credential's place at rest (the data dir)."""
        return os.path.join(self.data_dir, "manager", "admin")

    @property
    def local_admin_dir(self) -> str:
        """Where the manager keeps the local admin credential now, as it names it for the local CLI: in
        the run dir under autolock, at rest otherwise (manager/upkeep.local_admin moves it)."""
        try:
            with open(os.path.join(self.run_dir, "manager.admin")) as f:  # defaults.MANAGER_CREDS_FILE
                return f.read().strip() or self.admin_dir
        except FileNotFoundError:
            return self.admin_dir


class Cluster:
    def __init__(
        self, base: str, tag: str, heartbeat: float = 1.0, addr_prefix: str = "127.0.", net: Any = None
    ) -> None:
        self.base = base
        self.tag = tag  # unique per test run: names bridges and cgroups
        self.heartbeat = heartbeat
        self.hosts: list[Host] = []
        self._n = 0
        self.addr_prefix = addr_prefix
        self.extra_manager_args: list[str] = []  # e.g. ["--cert-lifetime", "12"] for a new cluster
        self.net = net  # a netns.TestNet: hosts are network namespaces on its bridge
        self.daemon_env: dict[str, str] = {}  # extra environment for every daemon, e.g. SVC_RAFT_JOURNAL
        self.tls_dir: str | None = None  # a client bundle for the CLI, instead of a manager's local credential
        self.admin_host: Host | None = None  # whose local credential (default: the first live manager's)

    # ----- hosts -----

    def add_host(self, addr: str | None = None, netns: str | None = None) -> Host:
        self._n += 1
        i = self._n
        name = f"h{i}"
        if self.net is not None and netns is None:
            netns, addr = self.net.add(name)
        addr = addr or f"127.0.{100 + (os.getpid() % 100)}.{next(_addresses)}"
        h = Host(name=name, addr=addr, base=os.path.join(self.base, name), netns=netns, index=i)
        h.bridge = f"sv{self.tag}{i}"[:15]
        h.subnet = f"10.{150 + (os.getpid() % 50)}.{i}.0/24"
        h.cgroup_parent = f"svc-{self.tag}-{i}"
        os.makedirs(h.base, exist_ok=True)
        self.hosts.append(h)
        return h

    def _daemon(self, h: Host, args: list[str], role: str) -> Daemon:
        # Hosts that share this machine's namespace cannot each have the routing mesh (one ingress
        # VXLAN id, one veth name per namespace): their ingress ports are published where tasks run.
        env = {**({"SVC_NO_ROUTING_MESH": "1"} if h.netns is None else {}), **self.daemon_env}
        return Daemon(args, os.path.join(h.base, f"{role}.log"), env=env, netns=h.netns)

    def start_manager(self, h: Host, join: Host | None = None, wait: bool = True, extra: tuple[str, ...] = ()) -> Host:
        args = [
            "manager",
            "--data-dir",
            h.data_dir,
            "--run-dir",
            h.run_dir,
            "--listen-addr",
            h.api,
            "--raft-port",
            str(RAFT_PORT),
            "--metrics-addr",
            f"{h.addr}:9424",
            "--hostname",
            f"mgr-{h.name}",
            "--heartbeat-period",
            str(self.heartbeat),
        ]
        if join is not None:
            args += ["--join", join.api, "--token", self.token("manager", via=join)]
        elif not os.path.exists(os.path.join(h.data_dir, "manager", "state.json")):
            args += ["--init", *self.extra_manager_args]
        args += list(extra)
        h.manager = self._daemon(h, args, "manager").start()
        if wait:
            poll(lambda: self.cli(h, "cluster", "info").returncode == 0, 60, what=f"manager {h.name} to answer")
        return h

    def start_node(self, h: Host, join: Host | None = None, wait: bool = True, labels: list[str] | None = None) -> Host:
        join = join or self.managers()[0]
        args = [
            "node",
            "--data-dir",
            h.data_dir,
            "--run-dir",
            h.run_dir,
            "--bridge",
            h.bridge,
            "--subnet",
            h.subnet,
            "--cgroup-parent",
            h.cgroup_parent,
            "--hostname",
            f"node-{h.name}",
            "--metrics-addr",
            f"{h.addr}:9425",
            "--advertise-addr",
            h.addr,
            "--join",
            join.api,
            "--log-level",
            "debug",  # the agent's and the engine's every step, for a failed test's report
        ]
        if not os.path.exists(os.path.join(h.data_dir, "node", "tls", "cert.pem")):
            args += ["--token", self.token("worker", via=join)]
        for label in labels or []:
            args += ["--label", label]
        h.node = self._daemon(h, args, "node").start()
        if wait:
            poll(lambda: self.node_state(f"node-{h.name}") == "ready", 60, what=f"node {h.name} to be ready")
        return h

    def wait_ready(self) -> None:
        """Wait for every started manager to answer and every started node to be ready."""
        for h in self.managers():
            poll(lambda h=h: self.cli(h, "cluster", "info").returncode == 0, 60, what=f"manager {h.name}")
        for h in self.nodes():
            poll(lambda h=h: self.node_state(f"node-{h.name}") == "ready", 60, what=f"node {h.name} to be ready")

    def managers(self) -> list[Host]:
        return [h for h in self.hosts if h.manager is not None]

    def nodes(self) -> list[Host]:
        return [h for h in self.hosts if h.node is not None]

    # ----- talking to it -----

    def cli(self, via: Host | None = None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `svc` against a manager (default: the first live one) with an admin credential: the
        bundle in `tls_dir`, else a manager's local one, found as root on that host finds it (through
        the run dir's pointer, which follows the credential when the manager moves it)."""
        via = via or self.any_live_manager()
        if self.tls_dir:
            env = {"SVC_HOST": via.api, "SVC_TLS_DIR": self.tls_dir}
        else:
            env = {"SVC_HOST": via.api, "SVC_TLS_DIR": "", "SVC_RUN_DIR": self._admin_host().run_dir}
        return run_cli(*args, env=env, timeout=timeout)

    def ok(self, *args: str, via: Host | None = None) -> str:
        r = self.cli(via, *args)
        assert r.returncode == 0, f"svc {' '.join(args)} failed: {r.stderr}"
        return r.stdout

    def admin_dir(self) -> str:
        """A directory holding an admin credential now, for a client made in the test. A manager moves
        its local one (autolock), so a test that turns autolock on sets `tls_dir` to a bundle."""
        return self.tls_dir or self._admin_host().local_admin_dir

    def _admin_host(self) -> Host:
        if self.admin_host is not None:
            return self.admin_host
        managers = self.managers()
        live = [h for h in managers if h.manager is not None and h.manager.alive()]
        for h in live + [h for h in managers if h not in live]:
            if os.path.exists(os.path.join(h.local_admin_dir, "cert.pem")):
                return h
        raise AssertionError("no admin credential yet")

    def any_live_manager(self) -> Host:
        live = [h for h in self.managers() if h.manager is not None and h.manager.alive()]
        assert live, "no manager is running"
        return live[0]

    def token(self, role: str, via: Host) -> str:
        return self.ok("cluster", "join-token", role, "-q", via=via).strip()

    def json_lines(self, *args: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok(*args, "--format", "json").splitlines() if line.strip()]

    def node_state(self, hostname: str) -> str:
        r = self.cli(None, "node", "ls", "--format", "json")
        if r.returncode != 0:
            return ""
        for line in r.stdout.splitlines():
            n = json.loads(line)
            if n.get("description", {}).get("hostname") == hostname:
                return str(n.get("state", ""))
        return ""

    def leader(self) -> Host | None:
        r = self.cli(None, "node", "ls", "--format", "json")
        if r.returncode != 0:
            return None
        for line in r.stdout.splitlines():
            n = json.loads(line)
            ms = n.get("manager_status") or {}
            if ms.get("leader"):
                return next((h for h in self.hosts if h.api == ms.get("api_addr")), None)
        return None

    def tasks(self, service: str) -> list[dict[str, Any]]:
        return self.json_lines("ps", service)

    def running_containers(self, h: Host) -> list[dict[str, Any]]:
        """The node's containers that really run, from its own engine."""
        r = run_cli("container", "ls", "--format", "json", env={"SVC_RUN_DIR": h.run_dir})
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def import_image(self, h: Host, path: str, ref: str = "busybox") -> None:
        r = run_cli("image", "import", path, ref, env={"SVC_RUN_DIR": h.run_dir})
        assert r.returncode == 0, r.stderr

    def converged(self, service: str, replicas: int) -> bool:
        """The store says `replicas` run, and exactly that many real containers of distinct slots run."""
        svc = [s for s in self.json_lines("ls") if s["spec"]["name"] == service]
        if not svc or int(svc[0].get("running", 0)) != replicas:
            return False
        slots = []
        for h in self.nodes():
            if h.node is None or not h.node.alive():
                continue
            for c in self.running_containers(h):
                labels = c.get("labels", {})
                if labels.get("svc.service.name") == service and c.get("state") == "running":
                    slots.append(labels.get("svc.task.slot"))
        return len(slots) == replicas and len(set(slots)) == replicas

    # ----- faults -----

    def kill9(self, h: Host, role: str = "both") -> None:
        for d in ([h.manager] if role in ("manager", "both") else []) + ([h.node] if role in ("node", "both") else []):
            if d is not None:
                d.kill9()

    # ----- teardown -----

    def teardown(self) -> list[str]:
        """Stop everything and remove what the hosts made; returns what could not be removed.

        Managers and agents stop first, so nothing starts a container behind our back; then each
        node's engine runs alone (as `svcd node` without --join) to remove every container.
        """
        daemons = [d for h in self.hosts for d in (h.node, h.manager) if d is not None]
        for d in daemons:
            d.terminate()
        for d in daemons:
            d.stop()
        alone = {}
        for h in self.hosts:
            if h.node is not None:
                args = [
                    "node",
                    "--data-dir",
                    h.data_dir,
                    "--run-dir",
                    h.run_dir,
                    "--bridge",
                    h.bridge,
                    "--subnet",
                    h.subnet,
                    "--cgroup-parent",
                    h.cgroup_parent,
                    "--metrics-addr",
                    "",
                ]
                alone[h.name] = self._daemon(h, args, "node-cleanup").start()  # configured as the node was

        def clean(h: Host) -> None:
            env = {"SVC_RUN_DIR": h.run_dir}
            with contextlib.suppress(Exception):
                ids = poll(lambda e=env: _ids(e), 30, what="engine to answer")
                if ids != ["-"]:
                    run_cli("container", "rm", "-f", *ids, env=env, timeout=120)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(clean, [h for h in self.hosts if h.name in alone]))
        for d in alone.values():
            d.terminate()
        for d in alone.values():
            d.stop()
        left = []
        for h in self.hosts:  # in the host's own namespace: before a test host's goes
            left += [f"{h.name}: published-port rule {r}" for r in portmap_rules(h.bridge, h.netns)]
            delete_portmap_rules(h.bridge, h.netns)
        if self.net is not None:
            self.net.destroy()
        for h in self.hosts:
            delete_bridge(h.bridge)
            left += [f"{h.name}: mount {m}" for m in mounts_under(h.base)]
            left += [f"{h.name}: cgroup {c}" for c in cgroup_children(h.cgroup_parent)]
            remove_cgroup_parent(h.cgroup_parent)
        return left

    def logs(self) -> str:
        out = [self._tasks_report()]
        for h in self.hosts:
            for d in (h.manager, h.node):
                if d is not None:
                    out.append(f"===== {d.log_path}\n{d.log()[-12000:]}")
        return "\n".join(out)

    def _tasks_report(self) -> str:
        """Every service's tasks as the first manager that answers sees them (for a failed test's report)."""
        for h in self.managers():
            try:
                ls = self.cli(h, "ls", "-q", timeout=10)
                if ls.returncode != 0:
                    continue
                names = [line.split()[0] for line in ls.stdout.splitlines() if line.strip()]
                if not names:
                    return f"===== tasks (via {h.name}): no services"
                ps = self.cli(h, "ps", "--no-trunc", *names, timeout=10)
                return f"===== tasks (via {h.name})\n{ps.stdout}{ps.stderr}"
            except subprocess.TimeoutExpired:
                continue
        return "===== tasks: no manager answered"


def _ids(env: dict[str, str]) -> list[str] | None:
    r = run_cli("container", "ls", "-aq", "--no-trunc", env=env)
    if r.returncode != 0:
        return None
    return r.stdout.split() or ["-"]


def manager_metric(h: Host, name: str) -> float | None:
    """One unlabelled sample from a manager's /metrics (None if it does not answer)."""
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # test hosts only, never a proxy
    try:
        with direct.open(f"http://{h.addr}:9424/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None
