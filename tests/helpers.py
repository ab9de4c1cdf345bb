"""Shared test helpers: polling with deadlines, free ports, daemon processes, leftover checks."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from svc import defaults

T = TypeVar("T")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def poll(fn: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Call `fn` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # keep polling through transient errors
            last_exc = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_exc})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `svc ARGS...` as a user would; returns the completed process (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "svc", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
        input=input.decode() if input else None,
    )


class Daemon:
    """A real `svcd` process with its own directories; logs go to a file kept for failures."""

    def __init__(
        self, args: list[str], log_path: str, env: dict[str, str] | None = None, netns: str | None = None
    ) -> None:
        self.args = args
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
        self.netns = netns
        self.proc: subprocess.Popen[bytes] | None = None
        self._asked_to_stop = False  # a second SIGTERM makes svcd exit at once, skipping its shutdown

    def start(self) -> Daemon:
        cmd = [sys.executable, "-m", "svcd", *self.args]
        if self.netns:
            # nsenter --net switches only the network namespace; `ip netns exec` would also remount /sys
            # and hide the cgroup mounts runc needs.
            cmd = ["nsenter", f"--net=/run/netns/{self.netns}", *cmd]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO)
        self._asked_to_stop = False
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        """Ask the daemon to stop (SIGTERM) without waiting; `stop` then waits."""
        if self.proc and self.proc.poll() is None and not self._asked_to_stop:
            self.proc.send_signal(signal.SIGTERM)
            self._asked_to_stop = True

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (once) and wait for a clean exit; SIGKILL after `timeout`."""
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        with contextlib.suppress(FileNotFoundError), open(self.log_path, errors="replace") as f:
            return f.read()
        return ""


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path)]


# Where svc pins network namespaces on the host: the default engine's directory, and /run/netns of
# older versions (and of `ip netns add`). A test engine pins its own under its run dir; those are
# checked per engine (EngineEnv.leftovers), so other tests running at the same time do not count.
NETNS_DIRS = (os.path.join(defaults.RUN_DIR, "engine", "netns"), "/run/netns")


def netns_list(prefix: str = "svc-") -> list[str]:
    """Names of network namespaces pinned in NETNS_DIRS: files, and mounts (hidden ones included)."""
    names = set()
    for d in NETNS_DIRS:
        with contextlib.suppress(FileNotFoundError):
            names.update(os.listdir(d))
        names.update(os.path.basename(m) for m in nsfs_mounts(d))
    return sorted(n for n in names if n.startswith(prefix))


def nsfs_mounts(under: str = "/") -> list[str]:
    """Mount points of namespace files (nsfs) at or below `under`, hidden ones included."""
    under = os.path.realpath(under).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype == "nsfs" and (fields[4] + "/").startswith(under):
                found.append(fields[4])
    return found


def cgroup_children(parent: str) -> list[str]:
    """Container cgroups left under `parent` in any hierarchy."""
    found = []
    root = "/sys/fs/cgroup"
    for entry in os.listdir(root):
        d = os.path.join(root, entry, parent)
        if os.path.isdir(d):
            found += [os.path.join(d, c) for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
    d = os.path.join(root, parent)
    if os.path.isdir(d) and os.path.exists(os.path.join(root, "cgroup.controllers")):
        found += [os.path.join(d, c) for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
    return found


def remove_cgroup_parent(parent: str) -> None:
    root = "/sys/fs/cgroup"
    for entry in os.listdir(root):
        d = os.path.join(root, entry, parent)
        with contextlib.suppress(OSError):
            os.rmdir(d)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(root, parent))


def delete_bridge(name: str) -> None:
    """A node bridge, the MASQUERADE rule the engine tagged with its name, and its FORWARD chain."""
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    for rule in masquerade_rules(name):
        delete = shlex.split(rule.replace("-A ", "-D ", 1))
        subprocess.run(["iptables", "-w", "-t", "nat", *delete], capture_output=True)
    chain = f"SVC-{name}"[:28]  # its FORWARD accept rules (node/engine/forwardrules.py)
    while subprocess.run(["iptables", "-w", "-D", "FORWARD", "-j", chain], capture_output=True).returncode == 0:
        pass
    subprocess.run(["iptables", "-w", "-F", chain], capture_output=True)
    subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)


def _iptables(netns: str | None) -> list[str]:
    """iptables in this namespace, or in the test host's namespace `netns` (pinned in /run/netns)."""
    return [*(["nsenter", f"--net=/run/netns/{netns}"] if netns else []), "iptables", "-w"]


def portmap_rules(bridge: str, netns: str | None = None) -> list[str]:
    """The CNI portmap plugin's DNAT jumps for containers on `bridge` (the network is named svc-<bridge>);
    each container's rules go with its CNI DEL."""
    r = subprocess.run([*_iptables(netns), "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if f'\\"svc-{bridge}\\"' in line]


def delete_portmap_rules(bridge: str, netns: str | None = None) -> None:
    """What a leaking test left, so the next test does not inherit it (the test still fails)."""
    for rule in portmap_rules(bridge, netns):
        chain = rule.rsplit("-j ", 1)[1].strip()
        delete = shlex.split(rule.replace("-A ", "-D ", 1))
        subprocess.run([*_iptables(netns), "-t", "nat", *delete], capture_output=True)
        subprocess.run([*_iptables(netns), "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run([*_iptables(netns), "-t", "nat", "-X", chain], capture_output=True)


def masquerade_rules(bridge: str) -> list[str]:
    r = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True)
    return [line for line in r.stdout.splitlines() if f'"svc {bridge}"' in line]


def bridge_ports(bridge: str) -> list[str]:
    """The links that are ports of `bridge` in this namespace (none when it does not exist)."""
    r = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return [line.split(":")[1].strip().split("@")[0] for line in r.stdout.splitlines() if line.strip()]


def is_root() -> bool:
    return os.geteuid() == 0


def host_tools_missing() -> list[str]:
    import shutil

    tools = ["runc", "conmon", "ip", "iptables", "busybox"]
    missing = [t for t in tools if not shutil.which(t)]
    if not any(os.path.exists(os.path.join(d, "bridge")) for d in ("/usr/lib/cni", "/opt/cni/bin")):
        missing.append("containernetworking-plugins")
    return missing
