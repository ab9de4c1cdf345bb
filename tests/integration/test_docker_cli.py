"""Issue #17, first slice: the real docker CLI (Debian 12's 20.10, no dockerd) drives a real cluster through
the manager's Engine API socket: version, info, service create (waiting and detached), ls, ps, inspect,
scale, update, rm, node ls, and a refusal. The checks are on what the docker CLI prints."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import pytest
from helpers import poll
from test_cluster import build

pytestmark = pytest.mark.root

DOCKER = os.environ.get("SVC_DOCKER_CLI", "/opt/svc/docker-cli/docker")


def _raw(sock: str, method: str, url: str, body: bytes) -> int:
    """One HTTP request over the unix socket; its status."""
    import http.client
    import socket

    conn = http.client.HTTPConnection("localhost", timeout=30)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.connect(sock)
    try:
        conn.request(method, url, body=body, headers={"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def _docker(sock: str, home: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": home}
    env.pop("DOCKER_API_VERSION", None)
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)")
def test_docker_cli_drives_services_and_nodes(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=1)
    mgr, node = c.managers()[0], c.nodes()[0]
    sock = os.path.join(mgr.run_dir, "docker.sock")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.stat(sock).st_mode)

    def ok(*args: str) -> str:
        r = _docker(sock, str(tmp_path), *args)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    # Negotiation, version and info: the swarm is active and this is a manager.
    assert re.search(r"Server:.*\n.*Engine:\n\s+Version:\s+\d", ok("version")), ok("version")
    assert "API version:      1.41" in ok("version")
    info = ok("info")
    assert " Swarm: active" in info and " Is Manager: true" in info, info
    cluster_id = re.search(r"Cluster ID:\s+(\S+)", c.ok("cluster", "info")).group(1)  # type: ignore[union-attr]
    assert f" ClusterID: {cluster_id}" in info and " Managers: 1" in info and " Nodes: 2" in info, info

    # create, waiting: the CLI's own convergence display ends with "Service converged".
    r = _docker(
        sock, str(tmp_path), "service", "create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000"
    )
    assert r.returncode == 0, r
    service_id = r.stdout.strip().splitlines()[0]
    assert "verify: Service converged" in r.stdout + r.stderr, r
    assert len(service_id) >= 12 and c.converged("web", 2)

    ls = ok("service", "ls").splitlines()
    assert ls[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], ls
    (row,) = [line.split() for line in ls[1:]]
    assert row[1:4] == ["web", "replicated", "2/2"] and row[4].startswith("busybox"), ls
    assert ok("service", "ls", "-q").strip() == service_id[:12]

    ps = ok("service", "ps", "web").splitlines()
    assert ps[0].split()[:6] == ["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE"], ps
    tasks = [line.split() for line in ps[1:]]
    assert sorted(t[1] for t in tasks) == ["web.1", "web.2"], ps
    assert all(t[3] == f"node-{node.name}" and t[4] == "Running" and t[5] == "Running" for t in tasks), ps

    (doc,) = json.loads(ok("service", "inspect", "web"))
    assert doc["ID"] == service_id and doc["Spec"]["Name"] == "web" and isinstance(doc["Version"]["Index"], int)
    assert doc["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "1000000"]
    pretty = ok("service", "inspect", "--pretty", "web")
    assert re.search(r"Name:\s+web\n", pretty) and re.search(r"Replicas:\s+2\n", pretty), pretty
    # docker inspect NAME looks for a container, an image, ... first: "not supported" lets it go on
    assert ok("inspect", "-f", "{{.Spec.Name}}", "web").strip() == "web"
    fmt = ok("service", "inspect", "-f", "{{.Spec.Name}} {{.Spec.TaskTemplate.ContainerSpec.Image}}", "web")
    assert fmt.startswith("web busybox"), fmt

    # scale and update go through GET + POST update?version=N; the CLI waits for them too.
    out = ok("service", "scale", "web=3")
    assert "web scaled to 3" in out and "verify: Service converged" in out, out
    assert c.converged("web", 3)
    out = ok("service", "update", "--env-add", "X=1", "web")
    assert "verify: Service converged" in out, out
    (doc,) = json.loads(ok("service", "inspect", "web"))
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["X=1"]
    assert doc["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
    assert poll(lambda: c.converged("web", 3), 60, what="web to run 3 updated tasks")

    # rollback: the previous spec, with docker's own rollback progress, converged
    out = ok("service", "rollback", "web")
    assert "rollback: manually requested rollback" in out and "verify: Service converged" in out, out
    (doc,) = json.loads(ok("service", "inspect", "web"))
    assert "Env" not in doc["Spec"]["TaskTemplate"]["ContainerSpec"] and doc["UpdateStatus"]["State"].startswith(
        "rollback_"
    ), doc
    assert poll(lambda: c.converged("web", 3), 60, what="web to run 3 rolled-back tasks")

    # the rolling-update policy is svc's own: set through docker, seen by svc
    ok("service", "update", "--detach", "--update-parallelism", "2", "--update-order", "start-first", "web")
    (doc,) = json.loads(ok("service", "inspect", "web"))
    assert doc["Spec"]["UpdateConfig"]["Parallelism"] == 2 and doc["Spec"]["UpdateConfig"]["Order"] == "start-first"
    (mine,) = [s for s in c.json_lines("ls") if s["spec"]["name"] == "web"]
    assert mine["spec"]["update_config"] == {"parallelism": 2, "order": "start-first"}, mine["spec"]

    def running() -> set[str]:
        return set(ok("service", "ps", "-q", "--filter", "desired-state=running", "web").split())

    before = running()
    assert "verify: Service converged" in ok("service", "update", "--force", "web")
    assert len(running()) == 3 and not running() & before  # --force replaced every task

    # node ls: both nodes, the manager's marked as the current one and the leader.
    nodes = ok("node", "ls").splitlines()
    assert nodes[0].split()[:5] == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER"], nodes
    me = [line for line in nodes[1:] if f"mgr-{mgr.name}" in line]
    assert len(me) == 1 and " * " in me[0] and "Leader" in me[0] and "Ready" in me[0], nodes
    assert any(f"node-{node.name}" in line and "Active" in line for line in nodes[1:]), nodes
    (n,) = json.loads(ok("node", "inspect", f"node-{node.name}"))
    assert n["Description"]["Hostname"] == f"node-{node.name}" and n["Status"]["State"] == "ready"

    # Errors: an unknown service is docker's "no such service", exit 1.
    r = _docker(sock, str(tmp_path), "service", "inspect", "nosuch")
    assert r.returncode == 1 and "no such service: nosuch" in r.stderr, r
    # ...and what svc cannot do is refused by name, in the daemon's words (not raw JSON), nothing made.
    r = _docker(sock, str(tmp_path), "service", "create", "--name", "m", "--mode", "replicated-job", "busybox", "true")
    assert r.returncode == 1 and r.stderr.strip().endswith(
        "Error response from daemon: Mode.ReplicatedJob is not supported by svc"
    ), r
    assert "m" not in ok("service", "ls", "--format", "{{.Name}}").split()

    # rm, then a detached create: the id at once, and the tasks follow.
    assert ok("service", "rm", "web").strip() == "web"
    poll(lambda: ok("service", "ls", "-q").strip() == "", 30, what="web to go")
    out = ok("service", "create", "--detach", "--name", "bg", "busybox", "sleep", "1000000")
    assert len(out.strip()) >= 12
    assert poll(lambda: c.converged("bg", 1), 60, what="bg to run")
    assert "1/1" in ok("service", "ls")

    # node update: labels, availability (the control API's UpdateNode); rm and demote refused by its rules
    worker = f"node-{node.name}"
    ok("node", "update", "--label-add", "zone=eu", "--label-add", "disk=ssd", worker)
    ok("node", "update", "--label-rm", "disk", worker)
    (n,) = json.loads(ok("node", "inspect", worker))
    assert n["Spec"]["Labels"] == {"zone": "eu"}, n["Spec"]
    (mine,) = [x for x in c.json_lines("node", "ls") if x["description"]["hostname"] == worker]
    assert mine["labels"] == {"zone": "eu"}, mine
    ok("node", "update", "--availability", "drain", worker)
    assert "Drain" in next(line for line in ok("node", "ls").splitlines() if worker in line)
    assert poll(lambda: "0/1" in ok("service", "ls"), 60, what="bg's task to leave the drained node")
    ok("node", "update", "--availability", "active", worker)
    assert poll(lambda: "1/1" in ok("service", "ls"), 60, what="bg to run again")
    r = _docker(sock, str(tmp_path), "node", "rm", worker)
    assert r.returncode == 1 and "is not down: stop it first, or remove it with --force" in r.stderr, r
    r = _docker(sock, str(tmp_path), "node", "demote", f"mgr-{mgr.name}")
    assert r.returncode == 1 and "cannot demote the last manager" in r.stderr, r


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)")
def test_docker_swarm_habits_and_service_logs(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docker swarm join-token/ca read the cluster; init/join/leave are refused naming svc's way;
    docker service logs (-f, --tail, --since, -t, a task's, stderr) shows what `svc logs` shows."""
    c = build(make_cluster, managers=1, nodes=1)
    mgr, node = c.managers()[0], c.nodes()[0]
    sock = os.path.join(mgr.run_dir, "docker.sock")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _docker(sock, str(tmp_path), *args)

    def ok(*args: str) -> str:
        r = run(*args)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    token = c.ok("cluster", "join-token", "worker", "-q").strip()
    assert ok("swarm", "join-token", "-q", "worker").strip() == token
    assert f"--token {token} " in ok("swarm", "join-token", "worker")
    assert ok("swarm", "ca").startswith("-----BEGIN CERTIFICATE-----")
    for args, words in (
        (("swarm", "init"), "svcd manager --init"),
        (("swarm", "join", "--token", token, "127.0.0.1:4242"), "svcd node --join"),
        (("swarm", "leave", "--force"), "svc node rm"),
        (("swarm", "update", "--cert-expiry", "48h"), "Spec.CAConfig.NodeCertExpiry cannot be changed here"),
        (("swarm", "ca", "--rotate", "-d"), "svc cluster ca --rotate"),
    ):
        r = run(*args)
        assert r.returncode != 0 and "Error response from daemon" in r.stderr and words in r.stderr, (args, r)

    # what svc can change through docker swarm update: the tokens, autolock and its key
    out = ok("swarm", "join-token", "--rotate", "-q", "worker").strip()
    assert out != token and out == c.ok("cluster", "join-token", "worker", "-q").strip()
    out = ok("swarm", "update", "--autolock=true")
    key = re.search(r"SWMKEY-\S+", out).group(0)  # type: ignore[union-attr]
    assert ok("swarm", "unlock-key", "-q").strip() == key and "autolock" in c.ok("cluster", "info").lower()
    assert ok("swarm", "unlock-key", "--rotate", "-q").strip() not in ("", key)
    assert "Swarm updated." in ok("swarm", "update", "--autolock=false")
    r = run("swarm", "unlock-key")
    assert r.returncode != 0 and "autolock is off" in r.stderr, r

    script = 'i=0; while true; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.5; done'
    ok("service", "create", "--name", "talk", "--replicas", "2", "busybox", "sh", "-c", script)
    assert poll(lambda: len(re.findall(r"out [3-9]", ok("service", "logs", "talk"))) >= 2, 30, what="lines")

    r = run("service", "logs", "talk")
    assert r.returncode == 0, r
    tasks = {t.split()[0] for t in ok("service", "ps", "-q", "talk").split()}
    one = ok("service", "ps", "-q", "--no-trunc", "-f", "name=talk.1", "talk").split()
    assert len(one) == 1 and one[0][:12] in {t[:12] for t in tasks}, (one, tasks)  # name: a prefix of talk.1.ID
    names = set()
    for out_line in r.stdout.splitlines():
        m = re.match(r"^(talk\.([12])\.(\w{12}))@(\S+)\s+\| out \d+$", out_line)
        assert m is not None, out_line
        assert m.group(4) == f"node-{node.name}" and m.group(3) in {t[:12] for t in tasks}, out_line
        names.add(m.group(1))
    assert len(names) == 2, r.stdout
    assert re.search(r"^talk\.[12]\.\w{12}@\S+\s+\| err \d+$", r.stderr, re.M), r.stderr  # stderr stays stderr

    # --tail N per task, -t with the time, --no-task-ids, --raw, --since.
    # (a tail is the last N lines per task when it is read, and what the task writes until the read ends)
    full = len((r.stdout + r.stderr).splitlines())
    r = run("service", "logs", "--tail", "1", "talk")
    assert 2 <= len((r.stdout + r.stderr).splitlines()) <= 6 < full, r
    assert {s.split("@")[0] for s in (r.stdout + r.stderr).splitlines()} == names, r
    r = run("service", "logs", "--tail", "3", "-t", "--no-task-ids", "talk")
    stamped = (r.stdout + r.stderr).splitlines()
    assert 6 <= len(stamped) <= 10, r
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "
    assert all(re.match(stamp + r"talk\.[12]@\S+\s+\| (out|err) \d+$", s) for s in stamped), stamped
    raw = ok("service", "logs", "--raw", "talk").splitlines()
    assert raw and all(re.match(r"^out \d+$", s) for s in raw), raw
    r = run("service", "logs", "--since", "2026-01-01T00:00:00Z", "--tail", "1", "talk")
    assert 2 <= (r.stdout + r.stderr).count(" | ") <= 6, r
    assert ok("service", "logs", "--since", "2099-01-01T00:00:00Z", "talk") == ""

    # a task's own logs, by task id
    task = sorted(tasks)[0]
    mine = ok("service", "logs", task).splitlines()
    assert mine and all(f".{task[:12]}@" in s for s in mine), mine

    # -f follows: new lines arrive, and ending the client ends the stream
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path)}
    follow = subprocess.Popen(
        [DOCKER, "service", "logs", "-f", "--tail", "0", "talk"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert follow.stdout is not None
        got = [follow.stdout.readline() for _ in range(4)]
        assert all(re.match(r"^talk\.[12]\.\w{12}@\S+\s+\| out \d+$", s) for s in got), got
    finally:
        follow.kill()
        follow.wait()

    # errors: an unknown service or task
    r = run("service", "logs", "nosuch")
    assert r.returncode == 1 and "no such task or service: nosuch" in r.stderr, r

    # the HTTP surface, fuzzed (bounded): junk ids, bodies and queries on every route of the real manager
    # get a 4xx (or /_ping's and /version's answer), never an internal error, and the daemon answers after
    from manager.engineapi.server import EngineAPI

    routes = EngineAPI(None, None).routes()  # type: ignore[arg-type]
    ids = ["nosuch", "..%2F..%2Fetc", "x" * 2000, "%00", "talk"]
    bodies = [b"", b"{", b"[1]", b'{"Name": {"x": []}, "TaskTemplate": 5}', b'"' + b"\\" * 1000 + b'"']
    statuses = set()
    for i, (method, path, _) in enumerate(routes):
        url = "/v1.41" + path.replace("{name:.+}", "a/b").replace("{verb:join|leave|unlock}", "leave")
        url = url.replace("{id}", ids[i % len(ids)]) + "?filters=%7B&version=x&tail=-"
        for body in bodies:
            if method == "GET" and url.split("?")[0].endswith("/logs"):
                continue  # a stream: answered above
            status = _raw(sock, method, url, body)
            statuses.add(status)
            assert status < 500 or status in (501, 503), (method, url, body[:30], status)
    assert 404 in statuses and 400 in statuses, statuses
    assert "talk" in ok("service", "ls")  # nothing made or removed by junk, and the daemon still answers


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)")
def test_docker_over_tcp_with_the_clusters_mutual_tls(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """svcd manager --docker-tcp ADDR: `docker --tlsverify` with `svc cluster client-bundle DIR` (docker's
    ca.pem, cert.pem, key.pem) drives the cluster; no certificate, or a manager's, gets nothing."""
    c = make_cluster()
    h = c.add_host()
    addr = f"{h.addr}:2376"
    c.start_manager(h, extra=("--docker-tcp", addr))
    bundle = str(tmp_path / "bundle")
    c.ok("cluster", "client-bundle", bundle)
    base = {**os.environ, "DOCKER_HOST": f"tcp://{addr}", "DOCKER_CONFIG": str(tmp_path / "home")}
    env = {**base, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": bundle}

    def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)

    poll(lambda: docker(env, "version").returncode == 0, 30, what="docker version over TCP")
    info = docker(env, "info").stdout
    assert " Swarm: active" in info and " Is Manager: true" in info, info
    r = docker(env, "service", "create", "--detach", "--name", "remote", "busybox", "sleep", "1000000")
    assert r.returncode == 0, r
    assert "remote" in docker(env, "service", "ls").stdout

    # the server is checked too: another CA's bundle is refused by the client
    r = docker({**base, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}, "service", "ls")
    assert r.returncode != 0, r
    # no client certificate: the handshake fails; plain HTTP: nothing
    r = docker(base, "--tls", "--tlscacert", os.path.join(bundle, "ca.pem"), "service", "ls")
    assert r.returncode != 0 and "remote" not in r.stdout, r
    r = docker(base, "service", "ls")
    assert r.returncode != 0 and "remote" not in r.stdout, r
    # a manager's own certificate is no admin's
    mtls = os.path.join(h.data_dir, "manager", "tls")
    args = ["--tlsverify", "--tlscacert", os.path.join(mtls, "ca.pem"), "--tlscert", os.path.join(mtls, "cert.pem")]
    r = docker(base, *args, "--tlskey", os.path.join(mtls, "key.pem"), "service", "ls")
    assert r.returncode != 0 and "a manager certificate may not use the Docker API" in r.stderr, r

    # a follower's socket: reads and writes go to the leader, as svc's own calls do
    f1, _ = c.start_manager(c.add_host(), join=h), c.start_manager(c.add_host(), join=h)
    fsock = os.path.join(f1.run_dir, "docker.sock")
    home = str(tmp_path / "home")
    assert "remote" in _docker(fsock, home, "service", "ls").stdout
    r = _docker(fsock, home, "network", "create", "-d", "overlay", "fromfollower")
    assert r.returncode == 0, r
    assert "fromfollower" in docker(env, "network", "ls").stdout  # seen through the leader's TCP listener
    nodes = _docker(fsock, home, "node", "ls").stdout
    assert nodes.count("Reachable") == 2 and nodes.count("Leader") == 1, nodes
    assert " Managers: 3" in _docker(fsock, home, "info").stdout
    # ...and a service's logs, streamed from the leader's log broker through the follower
    w = c.start_node(c.add_host(), join=h)
    c.import_image(w, c.busybox)
    r = _docker(fsock, home, "service", "create", "--detach", "--name", "echo", "busybox", "sh", "-c",
                "echo hello-from-task; sleep 1000000")  # fmt: skip
    assert r.returncode == 0, r
    poll(lambda: "hello-from-task" in _docker(fsock, home, "service", "logs", "echo").stdout, 60, what="echo's line")
    assert re.search(r"^echo\.1\.\w{12}@node-\S+\s+\| hello-from-task$", _docker(fsock, home, "service", "logs",
                     "echo").stdout, re.M)  # fmt: skip
