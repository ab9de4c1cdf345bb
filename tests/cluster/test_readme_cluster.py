"""README's "A cluster in five minutes", run as written on hosts built from network namespaces.

Each line of the block runs on the host its comment names: the manager host, each of two
workers, two more managers, and "anywhere" (the first manager). Only the example address and
the elided tokens are replaced, with the first manager's address and the tokens the cluster
prints. Per-host state goes where the documented SVC_* overrides point, as on real hosts it
would sit in /var/lib/svc.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator

import netns
import pytest
from helpers import REPO, cgroup_children, mounts_under, netns_list, poll, remove_cgroup_parent
from readme import sections, shell_block

pytestmark = pytest.mark.cluster

EXAMPLE_ADDR = "192.168.1.10"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Host:
    def __init__(self, name: str, ns: str, addr: str, base: str, tag: str) -> None:
        self.name, self.ns, self.addr, self.base = name, ns, addr, base
        os.makedirs(base, exist_ok=True)
        self.cgroup_parent = f"svc-readme-{tag}-{name}"
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SVC_")}
        self.env.update(
            PATH=PATH,
            SVC_DATA_DIR=os.path.join(base, "data"),
            SVC_RUN_DIR=os.path.join(base, "run"),
            SVC_CGROUP_PARENT=self.cgroup_parent,
        )
        self.daemons: list[subprocess.Popen[bytes]] = []

    def _cmd(self, command: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.ns}", "bash", "-c", command]

    def run(self, command: str, timeout: float = 300) -> str:
        r = subprocess.run(self._cmd(command), cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{self.name}: `{command}` failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def start(self, command: str) -> None:
        """A daemon line: it runs in the background, as in a terminal of its own."""
        log = open(os.path.join(self.base, f"svcd-{len(self.daemons)}.log"), "ab")
        self.daemons.append(subprocess.Popen(self._cmd(command), cwd=REPO, env=self.env, stdout=log, stderr=log))
        log.close()

    def answers(self, command: str) -> bool:
        r = subprocess.run(self._cmd(command), cwd=REPO, env=self.env, capture_output=True, timeout=60)
        return r.returncode == 0

    def logs(self) -> str:
        out = []
        for f in sorted(os.listdir(self.base)):
            if f.startswith("svcd-"):
                with open(os.path.join(self.base, f), errors="replace") as fh:
                    out.append(f"===== {self.name} {f}\n{fh.read()[-5000:]}")
        return "\n".join(out)


@pytest.fixture
def hosts(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[dict[str, Host]]:
    tag = f"{os.getpid() % 1000}"
    net = netns.TestNet(tag=tag + "r", subnet=f"10.{230 + os.getpid() % 10}.77.0/24")
    base = str(tmp_path_factory.mktemp("readme-cluster"))
    before = set(netns_list())
    made: dict[str, Host] = {}
    try:
        for name in ("m1", "w1", "w2", "m2", "m3"):
            ns, addr = net.add(name)
            made[name] = Host(name, ns, addr, os.path.join(base, name), tag)
        yield made
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        if failed:
            print("\n".join(h.logs() for h in made.values()))
        _teardown(made)
        net.destroy()
    left = [f"mount {m}" for m in mounts_under(base)]
    left += [f"cgroup {c}" for h in made.values() for c in cgroup_children(h.cgroup_parent)]
    left += [f"netns {n}" for n in set(netns_list()) - before]
    for h in made.values():
        remove_cgroup_parent(h.cgroup_parent)
    assert not left, f"the README cluster left things behind: {left}"


def _teardown(hosts: dict[str, Host]) -> None:
    m1 = hosts.get("m1")
    if m1 is not None and m1.daemons:
        with contextlib.suppress(Exception):
            names = subprocess.run(m1._cmd("svc ls -q"), env=m1.env, capture_output=True, text=True, timeout=30)
            if names.stdout.split():
                subprocess.run(m1._cmd("svc rm " + " ".join(names.stdout.split())), env=m1.env, timeout=60)
            for w in (h for h in hosts.values() if h.name.startswith("w") and h.daemons):
                poll(lambda w=w: not w.run("svc container ls -aq").strip(), 60, what=f"{w.name}'s containers to go")
                # and the routing mesh's namespace (-p 8080:80), once the node's next peer set drops it
                netns_dir = os.path.join(w.base, "run", "engine", "netns")
                poll(lambda d=netns_dir: not os.path.isdir(d) or not any(n.startswith("ov-") for n in os.listdir(d)),
                     60, what=f"{w.name}'s overlay namespaces to go")  # fmt: skip
    procs = [p for h in hosts.values() for p in h.daemons]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def test_readme_cluster_in_five_minutes(hosts: dict[str, Host]) -> None:
    m1, w1, w2, m2, m3 = (hosts[n] for n in ("m1", "w1", "w2", "m2", "m3"))
    block = sections(shell_block("On the first manager"))
    by_heading = {heading.split(" ")[0].rstrip(":") if heading else "every": cmds for heading, cmds in block}
    assert set(by_heading) == {"every", "manager", "each", "more", "anywhere"}, [h for h, _ in block]
    tokens: dict[str, str] = {}

    def line(cmd: str) -> str:
        cmd = cmd.replace(EXAMPLE_ADDR, m1.addr)
        cmd = cmd.replace("SWMTKN-1-...(manager token)", tokens.get("manager", "?"))
        return cmd.replace("SWMTKN-1-...", tokens.get("worker", "?"))

    def on(host: Host, cmd: str) -> str:
        if cmd.startswith("svcd "):
            host.start(line(cmd))
            return ""
        return host.run(line(cmd))

    for cmd in by_heading["every"]:  # the same machine for every test host: once
        subprocess.run(["bash", "-c", cmd], cwd=REPO, check=True, capture_output=True, timeout=900)

    for cmd in by_heading["manager"]:
        out = on(m1, cmd)
        if cmd.startswith("svcd "):
            poll(lambda: m1.answers("svc cluster info"), 60, what="the first manager to answer")
        if "join-token worker" in cmd:
            tokens["worker"] = re.search(r"SWMTKN-1-\S+", out).group(0)  # type: ignore[union-attr]
    tokens["manager"] = m1.run("svc cluster join-token manager -q").strip()

    for w in (w1, w2):
        for cmd in by_heading["each"]:
            on(w, cmd)
            if cmd.startswith("svcd "):
                poll(lambda w=w: w.answers("svc image ls"), 60, what=f"{w.name}'s engine to answer")
    for m in (m2, m3):
        for cmd in by_heading["more"]:
            on(m, cmd)
    poll(lambda: m1.run("svc node ls").count("Ready") == 5, 90, what="3 managers and 2 workers to be ready")
    poll(lambda: m1.run("svc node ls").count("Reachable") == 2, 60, what="the two new managers to be reachable")

    for cmd in by_heading["anywhere"]:
        if cmd.endswith("logs -f web"):  # follows until stopped: as a user would, stop it after a while
            out = _follow_briefly(m1, line(cmd))
            assert "svc:" not in out, out
            continue
        on(m1, cmd)

    replicas = m1.run("svc ls --format '{{.Name}} {{.Replicas}}'").split("\n")
    assert "web 10/10" in replicas and "front 2/2" in replicas, replicas
    for w in (w1, w2):  # the global service answers on each worker's published port
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # test hosts only, never a proxy
        with direct.open(f"http://{w.addr}:8080/", timeout=10) as resp:
            assert b"hello from svc" in resp.read()


def _follow_briefly(host: Host, cmd: str) -> str:
    # Ctrl-C in a user's terminal: SIGINT at its default, even where this suite inherited it ignored (a
    # suite started as a background job of a non-interactive shell, `.ci/run &`, has SIGINT ignored, and a
    # Python started so never raises KeyboardInterrupt).
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    p = subprocess.Popen(
        host._cmd(cmd),
        env=host.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        out, _ = p.communicate(timeout=5)
        raise AssertionError(f"`{cmd}` ended by itself ({p.returncode}): {out}")
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
    return out
