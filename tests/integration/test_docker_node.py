"""Issue #17 item 3: the real docker 20.10 CLI (no dockerd) against a real `svcd node`'s own Engine API socket,
`<run dir>/node-docker.sock`: version, info, run (attached, --rm, exit codes, -d), ps, logs, exec, wait, stop,
restart, kill, rm, images, load, rmi, tag, push and pull with a loopback registry, and refusals by name.
Checks are on what the docker CLI prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
import uuid

import pytest
from helpers import poll, run_cli
from imagebuild import Entry, ImageSpec, busybox_entries, write_docker_save

pytestmark = pytest.mark.root

DOCKER = os.environ.get("SVC_DOCKER_CLI", "/opt/svc/docker-cli/docker")
needs_docker = pytest.mark.skipif(
    not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)"
)


@pytest.fixture
def docker(node_daemon, engine_env, tmp_path):  # type: ignore[no-untyped-def]
    sock = os.path.join(engine_env.run_dir, "node-docker.sock")
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    env.pop("DOCKER_API_VERSION", None)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=timeout)

    run.sock = sock  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    run.cli_env = node_daemon[1]  # type: ignore[attr-defined]
    return run


def _ok(docker, *args: str) -> str:  # type: ignore[no-untyped-def]
    r = docker(*args)
    assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
    return r.stdout


@needs_docker
def test_docker_run_ps_logs_exec_stop_rm(docker) -> None:  # type: ignore[no-untyped-def]
    st = os.stat(docker.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    version = _ok(docker, "version")
    assert "API version:      1.41" in version and re.search(r"Server:.*\n.*Engine:\n\s+Version:\s+\d", version)
    info = _ok(docker, "info")
    assert " Swarm: inactive" in info and " Containers: 0" in info and " Images: 1" in info, info

    # Attached runs: output on the right stream, the container's exit code, --rm leaves nothing.
    r = docker("run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r
    r = docker("run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "to-out\n", "to-err\n"), r
    assert _ok(docker, "ps", "-aq") == ""
    r = docker("run", "--rm", "busybox", "seq", "1", "20000")
    assert r.returncode == 0 and r.stdout.split() == [str(n) for n in range(1, 20001)], r.stderr
    r = docker("run", "--rm", "busybox", "/nosuch")  # a start that fails: its error, docker's code, nothing left
    assert r.returncode == 127 and "Error response from daemon" in r.stderr and "/nosuch" in r.stderr, r
    assert _ok(docker, "ps", "-aq") == ""
    r = docker("run", "--name", "kept", "busybox", "sh", "-c", "echo kept")
    assert (r.returncode, r.stdout) == (0, "kept\n"), r
    assert "Exited (0)" in _ok(docker, "ps", "-a", "--filter", "name=kept")

    # Detached: ps, logs, exec, wait, stop, rm.
    cid = _ok(
        docker,
        "run",
        "-d",
        "--name",
        "x",
        "-e",
        "A=1",
        "--label",
        "app=web",
        "busybox",
        "sh",
        "-c",
        "echo started; echo warn >&2; exec sleep 100",
    ).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
    ps = _ok(docker, "ps").splitlines()
    assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], ps
    (row,) = [line for line in ps[1:] if line.rstrip().endswith(" x")]
    assert row.startswith(cid[:12]) and " busybox " in row and " Up " in row, ps
    assert _ok(docker, "ps", "-q", "--filter", "label=app=web") == cid[:12] + "\n"
    assert _ok(docker, "ps", "-q", "--filter", "label=app=db") == ""
    assert _ok(docker, "ps", "-aq", "--filter", "status=exited").split() == [
        _ok(docker, "ps", "-aq", "-f", "name=kept").strip()
    ]
    r = docker("logs", "x")
    assert (r.returncode, r.stdout, r.stderr) == (0, "started\n", "warn\n"), r
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z started\n", _ok(docker, "logs", "-t", "x"))
    assert _ok(docker, "logs", "--tail", "0", "x") == ""
    r = docker("exec", "x", "sh", "-c", "echo $A; echo e >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n", "e\n"), r
    assert docker("exec", "x", "sh", "-c", "exit 4").returncode == 4
    assert _ok(docker, "exec", "x", "seq", "1", "20000").split() == [str(n) for n in range(1, 20001)]
    # exec's output as it comes: the first line well before the command ends
    p = subprocess.Popen(
        [DOCKER, "exec", "x", "sh", "-c", "echo first; sleep 3; echo second"],
        stdout=subprocess.PIPE,
        text=True,
        env=docker.env,
    )
    t0 = time.monotonic()
    assert p.stdout is not None and p.stdout.readline() == "first\n"
    assert time.monotonic() - t0 < 2.5
    assert p.stdout.read() == "second\n" and p.wait(30) == 0
    assert docker("exec", "x", "/nosuch").returncode in (126, 127)
    (img,) = json.loads(_ok(docker, "inspect", "busybox"))  # not a container: the image, as with dockerd
    assert img["RepoTags"] == ["busybox:latest"]
    r = docker("inspect", "nosuch")  # past containers and images, the kinds a node does not serve are skipped
    assert r.returncode == 1 and "Error: No such object: nosuch" in r.stderr, r
    (doc,) = json.loads(_ok(docker, "inspect", "x"))
    assert doc["Id"] == cid and doc["Name"] == "/x" and doc["State"]["Running"] is True
    assert doc["Config"]["Labels"] == {"app": "web"} and doc["Config"]["Image"] == "busybox"
    assert _ok(docker, "inspect", "-f", "{{.State.Status}}", "x") == "running\n"
    assert _ok(docker, "stop", "-t", "1", "x") == "x\n"
    assert _ok(docker, "wait", "x") == "137\n"  # sleep as PID 1 ignores SIGTERM: killed after the grace
    assert "Exited (137)" in _ok(docker, "ps", "-a", "-f", "name=^/x$")
    r = docker("exec", "x", "true")
    assert r.returncode != 0 and "is not running" in r.stderr, r
    assert _ok(docker, "rm", "x", "kept").split() == ["x", "kept"]
    r = docker("logs", "x")
    assert r.returncode == 1 and "No such container: x" in r.stderr, r  # the CLI says it, from the 404

    # a named volume (-v) and the container's own options reach the engine
    _ok(docker, "run", "--rm", "-v", "dvol:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert (
        _ok(
            docker,
            "run",
            "--rm",
            "-v",
            "dvol:/data:ro",
            "-w",
            "/data",
            "-u",
            "65534",
            "busybox",
            "sh",
            "-c",
            "cat f; id -u; pwd; touch g 2>/dev/null || echo ro",
        )
        == "kept\n65534\n/data\nro\n"
    )
    _ok(docker, "create", "--name", "dup", "busybox", "true")
    r = docker("run", "-d", "--name", "dup", "busybox", "true")
    assert r.returncode == 125 and "already in use" in r.stderr, r
    _ok(docker, "rm", "dup")

    # logs -f ends when the container does; -d --rm removes it once it exits
    _ok(docker, "run", "-d", "--name", "f", "busybox", "sh", "-c", "echo a; sleep 1; echo b")
    assert _ok(docker, "logs", "-f", "f") == "a\nb\n"
    _ok(docker, "rm", "f")
    _ok(docker, "run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1")
    assert poll(lambda: _ok(docker, "ps", "-aq", "-f", "name=gone") == "", 30, what="the --rm container to go")

    # kill, and rm -f of a running container
    _ok(docker, "run", "-d", "--name", "k", "busybox", "sleep", "100")
    assert _ok(docker, "kill", "k") == "k\n"
    assert _ok(docker, "wait", "k") == "137\n"
    _ok(docker, "start", "k")
    started = _ok(docker, "inspect", "-f", "{{.State.StartedAt}}", "k")
    assert _ok(docker, "restart", "-t", "1", "k") == "k\n"
    assert _ok(docker, "inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", "k") != f"true {started}"
    assert _ok(docker, "inspect", "-f", "{{.State.Running}}", "k") == "true\n"
    assert _ok(docker, "rm", "-f", "k") == "k\n"
    assert _ok(docker, "ps", "-aq") == ""
    assert run_cli("container", "ls", "-aq", env=docker.cli_env).stdout == ""  # svc's CLI sees the same engine


def _raw(sock: str, method: str, path: str, data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)

    c = Conn("localhost", timeout=30)
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data is not None else {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def test_negotiation_and_errors_over_the_socket(docker) -> None:  # type: ignore[no-untyped-def]
    status, headers, data = _raw(docker.sock, "HEAD", "/_ping")
    assert status == 200 and headers["API-Version"] == "1.41" and headers["OSType"] == "linux", headers
    assert headers["Swarm"] == "inactive" and data == b""
    assert _raw(docker.sock, "GET", "/v1.40/_ping")[2] == b"OK"
    status, _, data = _raw(docker.sock, "GET", "/v1.99/version")
    assert status == 400 and b"Maximum supported API version is 1.41" in data, data
    status, headers, data = _raw(docker.sock, "GET", "/v1.41/containers/nosuch/json")
    assert status == 404 and headers["Content-Type"] == "application/json", headers
    assert json.loads(data) == {"message": "no such container: nosuch"}
    status, _, data = _raw(docker.sock, "POST", "/v1.41/build")
    message = "svc does not serve POST /v1.41/build: not supported here (docs/docker-api.md)"
    assert status == 501 and json.loads(data)["message"] == message
    status, _, data = _raw(docker.sock, "GET", '/containers/json?filters={"ancestor":["busybox"]}')
    assert status == 501 and b"ancestor" in data, data


def test_junk_on_every_route_is_never_a_500(docker) -> None:  # type: ignore[no-untyped-def]
    """Bounded: malformed bodies, ids and queries on each route; each is answered (a 4xx or 501 with a message
    where it is refused), never a 500, and nothing is made."""
    import random

    rnd = random.Random(3)
    routes = [
        ("POST", "/containers/create?name={id}"),
        ("GET", "/containers/json?filters={q}"),
        ("GET", "/containers/{id}/json"),
        ("POST", "/containers/{id}/start"),
        ("POST", "/containers/{id}/stop?t={q}"),
        ("POST", "/containers/{id}/restart?t={q}"),
        ("POST", "/containers/{id}/kill?signal={q}"),
        ("POST", "/containers/{id}/wait?condition={q}"),
        ("GET", "/containers/{id}/logs?stdout=1&tail={q}"),
        ("DELETE", "/containers/{id}?force=1"),
        ("POST", "/containers/{id}/exec"),
        ("POST", "/exec/{id}/start"),
        ("GET", "/exec/{id}/json"),
        ("GET", "/images/json?filters={q}"),
        ("GET", "/images/{id}/json"),
        ("DELETE", "/images/{id}"),
        ("POST", "/images/{id}/tag?repo={q}"),
        ("POST", "/images/create?fromImage={q}&tag=1"),
        ("POST", "/images/load"),
        ("GET", "/v1.{q}/version"),
    ]
    junk_ids = ["nosuch", "..%2F..%2Fetc", "a" * 300, "%00", "busybox%3A%3A%3A"]
    junk_q = ["", "%7B", "%5B1%5D", "-1", "1e999", "nan", "%22x%22", "A" * 200, "UPPER%2F%2F"]
    junk_bodies = [
        None,
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"Image": 1}',
        b'{"Cmd": "x"}',
        b"[" * 3000 + b"]" * 3000,
        json.dumps({"Image": "busybox", "HostConfig": {"Memory": 1 << 80}}).encode(),
    ]
    for _ in range(160):
        method, path = rnd.choice(routes)
        path = path.replace("{id}", rnd.choice(junk_ids)).replace("{q}", rnd.choice(junk_q))
        status, _, data = _raw(docker.sock, method, path, rnd.choice(junk_bodies) if method == "POST" else None)
        assert status < 400 or 400 <= status < 500 or status == 501, (method, path, status, data[:300])
        assert status < 400 or json.loads(data)["message"], (method, path, data[:300])
    assert _ok(docker, "ps", "-aq") == ""


@needs_docker
def test_docker_refuses_what_svc_cannot_do(docker) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (
            ["run", "-i", "busybox", "true"],
            "a terminal or stdin (docker run -i/-t, attach stdin) is not supported by svc",
        ),
        (["run", "-d", "--restart", "always", "busybox", "true"], "restart policy 'always' is not supported by svc"),
        (["run", "-d", "--privileged", "busybox", "true"], "HostConfig.Privileged is not supported by svc"),
        (["run", "-d", "-p", "80", "busybox", "true"], "a host port chosen by the daemon"),
        (["run", "-d", "--network", "mynet", "busybox", "true"], "network 'mynet' is not supported by svc"),
        (["run", "--pull", "never", "nosuchimage"], "no such image"),
        (["run", "-d", "--memory", "1k", "busybox", "true"], "memory limit too low"),
    ]
    for args, message in cases:
        r = docker(*args)
        assert r.returncode == 125, (args, r)
        assert message in r.stderr and "Error response from daemon" in r.stderr, (args, r.stderr)
    assert _ok(docker, "ps", "-aq") == ""
    _ok(docker, "run", "-d", "--name", "s", "busybox", "sleep", "100")
    for args, message in [
        (["exec", "-t", "s", "true"], "exec with a terminal (docker exec -t) is not supported by svc"),
        (["exec", "-u", "nobody", "s", "true"], "exec with another user (docker exec -u) is not supported by svc"),
    ]:
        r = docker(*args)
        assert r.returncode != 0 and message in r.stderr, (args, r)
    r = docker("rm", "s")
    assert r.returncode == 1 and "is running" in r.stderr, r
    r = docker("pause", "s")
    assert r.returncode == 1 and "svc does not serve POST /v1.41/containers/s/pause" in r.stderr, r
    _ok(docker, "rm", "-f", "s")


@needs_docker
def test_docker_images_load_rmi(docker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    images = _ok(docker, "images").splitlines()
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"], images
    assert any(line.split()[:2] == ["busybox", "latest"] for line in images[1:]), images
    spec = ImageSpec(layers=[[*busybox_entries(), Entry("marker", b"loaded")]], tag="loaded:1")
    archive = write_docker_save(str(tmp_path / "loaded.tar"), spec)
    assert _ok(docker, "load", "-i", archive).strip() == "Loaded image: loaded:1"
    assert _ok(docker, "run", "--rm", "loaded:1", "cat", "/marker") == "loaded"
    (doc,) = json.loads(_ok(docker, "image", "inspect", "loaded:1"))
    assert doc["RepoTags"] == ["loaded:1"] and doc["Id"].startswith("sha256:") and doc["Config"]["Cmd"] == ["sh"]
    assert _ok(docker, "images", "-q", "loaded") == doc["Id"][7:19] + "\n"
    _ok(docker, "create", "--name", "user", "loaded:1")
    r = docker("rmi", "loaded:1")
    assert r.returncode == 1 and "in use" in r.stderr, r
    _ok(docker, "rm", "user")
    out = _ok(docker, "rmi", "loaded:1").splitlines()
    assert out == ["Untagged: loaded:1", f"Deleted: {doc['Id']}"], out
    r = docker("image", "inspect", "loaded:1")
    assert r.returncode == 1 and "no such image" in r.stderr.lower(), r
    with open(tmp_path / "bad.tar", "wb") as f:
        f.write(b"not a tar")
    r = docker("load", "-i", str(tmp_path / "bad.tar"))
    assert r.returncode == 1 and "Error response from daemon" in r.stderr, r


@needs_docker
@pytest.mark.skipif(
    not (shutil.which("docker-registry") and shutil.which("skopeo")), reason="needs docker-registry and skopeo"
)
def test_docker_pull_from_a_loopback_registry(docker, engine_env, tmp_path_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from registryutil import Registry, oci_archive

    reg = Registry(str(tmp_path_factory.mktemp("registry")))
    try:
        with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
            json.dump({"insecure-registries": [reg.host]}, f)
        marker = f"docker-{uuid.uuid4().hex}"
        reg.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "app:1")
        out = _ok(docker, "pull", f"{reg.host}/app:1")
        assert "Pull complete" in out and f"Status: Downloaded newer image for {reg.host}/app:1" in out, out
        assert out.strip().splitlines()[-1] == f"{reg.host}/app:1", out
        assert _ok(docker, "run", "--rm", f"{reg.host}/app:1", "cat", "/marker") == marker
        r = docker("pull", f"{reg.host}/nosuch:1")
        assert r.returncode == 1 and "Error response from daemon" in r.stderr, r
        # docker run of an image not here pulls it first, as against dockerd
        reg.push(f"oci-archive:{oci_archive(tmp_path, marker + 'b')}", "app:2")
        r = docker("run", "--rm", f"{reg.host}/app:2", "cat", "/marker")
        assert r.returncode == 0 and r.stdout == marker + "b", r
        assert f"Unable to find image '{reg.host}/app:2' locally" in r.stderr, r
        # tag and push, then pull it back
        _ok(docker, "tag", "busybox", f"{reg.host}/pushed:1")
        out = _ok(docker, "push", f"{reg.host}/pushed:1")
        assert f"The push refers to repository [{reg.host}/pushed]" in out and "1: digest: sha256:" in out, out
        _ok(docker, "rmi", f"{reg.host}/pushed:1")
        assert "Status: Downloaded newer image" in _ok(docker, "pull", f"{reg.host}/pushed:1")
        r = docker("push", f"{reg.host}/notlocal:1")
        assert r.returncode == 1 and "Error response from daemon" in r.stderr, r
    finally:
        reg.stop()


@needs_docker
def test_a_joined_nodes_socket_shows_its_tasks(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a cluster's node the same socket serves its engine: the node is a swarm worker, the tasks it runs
    are its containers, with svc's labels."""
    from test_cluster import build

    c = build(make_cluster, managers=1, nodes=1)
    (node,) = c.nodes()
    sock = os.path.join(node.run_dir, "node-docker.sock")
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "cfg")}
    env.pop("DOCKER_API_VERSION", None)

    def ok(*args: str) -> str:
        r = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    info = ok("info")
    assert " Swarm: active" in info and " Is Manager: false" in info and " NodeID: " in info, info
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    assert poll(lambda: c.converged("web", 2), 60, what="web to run 2 tasks")
    names = ok("ps", "--filter", "label=svc.service.name=web", "--format", "{{.Names}} {{.Status}}").splitlines()
    assert len(names) == 2 and all(" Up " in f" {n} " for n in names), names
    r = subprocess.run([DOCKER, "service", "ls"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0, r  # a worker's socket serves no swarm commands (the CLI hides them)


@needs_docker
def test_run_rm_survives_a_daemon_restart(docker, node_daemon) -> None:  # type: ignore[no-untyped-def]
    """A --rm container that exits while the daemon is down (kill -9) is removed when it is back."""
    daemon, _ = node_daemon
    _ok(docker, "run", "-d", "--rm", "--name", "r", "busybox", "sleep", "2")
    _ok(docker, "run", "-d", "--name", "stays", "busybox", "sleep", "2")
    daemon.kill9()
    time.sleep(3)
    daemon.start()
    assert poll(lambda: docker("ps", "-a", "--format", "{{.Names}}").returncode == 0, 30, what="the daemon")
    assert poll(lambda: _ok(docker, "ps", "-a", "--format", "{{.Names}}").split() == ["stays"], 30, what="r to go")
    assert _ok(docker, "rm", "stays") == "stays\n"
