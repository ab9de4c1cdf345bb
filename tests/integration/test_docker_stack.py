"""Issue #17: the real docker CLI (20.10, no dockerd) against a real cluster's Engine API socket for
networks, secrets and configs (create, ls with filters, inspect, rm; a secret's value never shown;
what svc cannot do refused by name, nothing made), a service using them, and `docker stack deploy -c`
(the CLI parses the compose file itself): 2 services, a network, a secret; `svc ls` and `docker stack
ls/services/ps` show them, the secret is in a task, a redeploy of the same file replaces no task,
`docker stack rm` leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli
from test_cluster import build
from test_docker_cli import DOCKER, _docker

pytestmark = pytest.mark.root

COMPOSE = """
version: "3.8"
services:
  web:
    image: busybox
    command: ["sleep", "1000000"]
    networks: [back]
    secrets: [token]
    init: true
    extra_hosts: ["db:10.0.0.9"]
    sysctls: {net.core.somaxconn: 1024}
    deploy:
      replicas: 2
      labels: {tier: front}
  api:
    image: busybox
    command: ["sleep", "1000000"]
    environment:
      MODE: one
    networks: [back]
networks:
  back:
    driver: overlay
    labels: {purpose: test}
secrets:
  token:
    file: ./token.txt
"""


def _running(c: Any, service: str) -> list[str]:
    return sorted(t["id"] for t in c.json_lines("ps", service) if t["status"]["state"] == "running")


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)")
def test_docker_networks_secrets_configs_and_stack_deploy(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=1)
    mgr = c.managers()[0]
    sock = os.path.join(mgr.run_dir, "docker.sock")
    home = str(tmp_path / "home")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        if stdin is None:
            return _docker(sock, home, *args)
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": home}
        return subprocess.run([DOCKER, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)

    def ok(*args: str, stdin: str | None = None) -> str:
        r = run(*args, stdin=stdin)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stdout}{r.stderr}"
        return r.stdout

    def refused(why: str, *args: str, stdin: str = "x") -> None:
        r = run(*args, stdin=stdin)
        assert r.returncode != 0 and why in r.stderr, (args, r)

    # networks
    net_id = ok("network", "create", "-d", "overlay", "--label", "a=b", "--subnet", "10.123.0.0/24", "net1").strip()
    rows = [line.split() for line in ok("network", "ls").splitlines()]
    assert rows[0] == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"] and [net_id[:12], "net1", "overlay", "swarm"] in rows
    assert ok("network", "ls", "-q", "-f", "label=a=b").split() == [net_id[:12]]
    assert ok("network", "ls", "-q", "-f", "label=a=c").split() == []
    assert ok("network", "ls", "-q", "-f", "name=net1", "-f", "scope=local").split() == []
    (n,) = json.loads(ok("network", "inspect", "net1"))
    assert n["Id"] == net_id and n["IPAM"]["Config"][0]["Subnet"] == "10.123.0.0/24" and n["Labels"] == {"a": "b"}
    refused("network driver 'bridge' is not supported: use overlay", "network", "create", "nobridge")
    refused("is not supported by svc", "network", "create", "-d", "overlay", "--ipv6", "nov6")
    refused("already exists", "network", "create", "-d", "overlay", "net1")
    assert "nobridge" not in ok("network", "ls") and "nov6" not in ok("network", "ls")
    refused("No such network: nosuch", "network", "inspect", "nosuch")

    # secrets and configs: a secret's value is never answered, a config's is
    value = f"tok-{uuid.uuid4().hex}"
    sec_id = ok("secret", "create", "--label", "k=v", "s1", "-", stdin=value).strip()
    assert ok("secret", "ls", "--format", "{{.Name}} {{.ID}}").split() == ["s1", sec_id]
    assert ok("secret", "ls", "-q", "-f", "label=k=v").split() == [sec_id]
    (s,) = json.loads(ok("secret", "inspect", "s1"))
    assert s["ID"] == sec_id and s["Spec"]["Labels"] == {"k": "v"} and "Data" not in s["Spec"], s
    assert value not in json.dumps(s)
    cfg_id = ok("config", "create", "c1", "-", stdin="conf-value").strip()
    assert "conf-value" in ok("config", "inspect", "--pretty", "c1")
    refused("already exists", "secret", "create", "s1", "-")
    refused("secret.Templating is not supported by svc", "secret", "create", "--template-driver", "golang", "s2", "-")

    # a service with them, and inspect shows them
    ok("service", "create", "--name", "uses", "--network", "net1", "--secret", "s1", "--config", "src=c1,target=/c1",
       "--mount", "type=tmpfs,target=/scratch", "--label", "x=y", "--init", "--host", "db:10.0.0.9",
       "--sysctl", "net.core.somaxconn=1024", "busybox", "sleep", "1000000")  # fmt: skip
    (doc,) = json.loads(ok("service", "inspect", "uses"))
    spec = doc["Spec"]
    assert spec["Labels"] == {"x": "y"} and spec["TaskTemplate"]["Networks"][0]["Target"] == net_id
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Secrets"][0]["SecretID"] == sec_id and cs["Secrets"][0]["File"]["Name"] == "s1"
    assert cs["Configs"][0]["ConfigID"] == cfg_id and cs["Configs"][0]["File"]["Name"] == "/c1"
    assert cs["Mounts"] == [{"Type": "tmpfs", "Target": "/scratch"}]
    assert cs["Init"] is True and cs["Hosts"] == ["10.0.0.9 db"] and cs["Sysctls"] == {"net.core.somaxconn": "1024"}
    refused("in use by service uses", "secret", "rm", "s1")
    ok("service", "rm", "uses")
    poll(lambda: "uses" not in ok("service", "ls"), 30, what="uses to go")
    poll(lambda: run("network", "rm", "net1").returncode == 0, 30, what="net1 to be removable")
    assert ok("secret", "rm", "s1").strip() == "s1" and ok("config", "rm", "c1").strip() == "c1"
    assert ok("network", "ls", "-q") == ok("secret", "ls", "-q") == ok("config", "ls", "-q") == ""

    # docker stack deploy: the CLI reads the compose file and calls /networks, /secrets, /services
    (tmp_path / "token.txt").write_text(value)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    out = ok("stack", "deploy", "-c", str(compose), "app")
    for made in ("Creating network app_back", "Creating secret app_token", "Creating service app_web",
                 "Creating service app_api"):  # fmt: skip
        assert made in out, out
    poll(lambda: c.converged("app_web", 2) and c.converged("app_api", 1), 90, what="the stack running")
    names = sorted(s["spec"]["name"] for s in c.json_lines("ls"))
    assert names == ["app_api", "app_web"]
    assert ok("stack", "ls").split() == ["NAME", "SERVICES", "ORCHESTRATOR", "app", "2", "Swarm"]
    rows = [line.split() for line in ok("stack", "services", "app").splitlines()]
    assert [r[1:4] for r in rows[1:]] == [["app_api", "replicated", "1/1"], ["app_web", "replicated", "2/2"]], rows
    ps = ok("stack", "ps", "-f", "desired-state=running", "--format", "{{.Name}} {{.CurrentState}}", "app")
    assert sorted(p.split()[0] for p in ps.splitlines()) == ["app_api.1", "app_web.1", "app_web.2"], ps
    assert all(p.split()[1] == "Running" for p in ps.splitlines()), ps
    (web,) = [s for s in c.json_lines("ls") if s["spec"]["name"] == "app_web"]
    assert web["spec"]["labels"] == {"com.docker.stack.namespace": "app", "com.docker.stack.image": "busybox",
                                     "tier": "front"}  # fmt: skip
    nets = c.json_lines("network", "ls")
    assert [n["spec"]["labels"] for n in nets] == [{"com.docker.stack.namespace": "app", "purpose": "test"}]
    assert [s["Spec"]["Name"] for s in c.json_lines("secret", "ls")] == ["app_token"]

    def web_exec(*cmd: str) -> str:
        for h in c.nodes():
            for ctr in c.running_containers(h):
                if ctr.get("labels", {}).get("svc.service.name") == "app_web":
                    got = run_cli("container", "exec", ctr["id"], *cmd, env={"SVC_RUN_DIR": h.run_dir})
                    assert got.returncode == 0, got.stderr
                    return got.stdout
        raise AssertionError("no app_web container")

    assert web_exec("cat", "/run/secrets/token") == value
    assert "10.0.0.9\tdb" in web_exec("cat", "/etc/hosts").replace(" ", "\t")  # compose's extra_hosts
    assert web_exec("cat", "/proc/sys/net/core/somaxconn").strip() == "1024"
    before = (_running(c, "app_web"), _running(c, "app_api"))

    # the same file again: every object is found, no task is replaced
    out = ok("stack", "deploy", "-c", str(compose), "app")
    assert "Creating" not in out and "Updating service app_web" in out, out
    assert (_running(c, "app_web"), _running(c, "app_api")) == before
    # a changed secret value is refused, as swarmkit refuses it, and nothing else changes
    (tmp_path / "token.txt").write_text("another")
    r = run("stack", "deploy", "-c", str(compose), "app")
    assert r.returncode != 0 and "app_token's value cannot change" in r.stderr, r
    assert (_running(c, "app_web"), _running(c, "app_api")) == before
    # new labels for the secret: the one change swarmkit allows, made
    (tmp_path / "token.txt").write_text(value)
    compose.write_text(COMPOSE.replace("    file: ./token.txt", "    file: ./token.txt\n    labels: {rev: '2'}"))
    ok("stack", "deploy", "-c", str(compose), "app")
    (s,) = json.loads(ok("secret", "inspect", "app_token"))
    assert s["Spec"]["Labels"] == {"com.docker.stack.namespace": "app", "rev": "2"}, s
    assert (_running(c, "app_web"), _running(c, "app_api")) == before

    out = ok("stack", "rm", "app")
    assert "Removing service app_web" in out and "Removing network app_back" in out, out

    def gone() -> bool:
        return not (c.json_lines("ls") or c.json_lines("network", "ls") or c.json_lines("secret", "ls"))

    poll(gone, 60, what="nothing of the stack left")
    assert ok("stack", "ls").split() == ["NAME", "SERVICES", "ORCHESTRATOR"]


RICH = """
version: "3.8"
services:
  front:
    image: busybox
    command: httpd -f -p 8080
    hostname: front
    user: "0"
    working_dir: /
    read_only: false
    stop_grace_period: 3s
    stop_signal: SIGTERM
    environment: [A=1]
    labels: {ctr: label}
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
      timeout: 1s
      retries: 2
      start_period: 1s
    ports:
      - {target: 8080, published: 18080, mode: host}
    configs:
      - source: conf
        target: /etc/conf
        mode: 0440
    tmpfs: [/run/x]
    volumes: [data:/data]
    deploy:
      mode: global
      endpoint_mode: dnsrr
      labels: {svc: label}
      resources:
        limits: {cpus: "0.5", memory: 64M}
        reservations: {memory: 16M}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 3}
      placement:
        constraints: [node.role == worker]
      update_config: {parallelism: 2, order: start-first}
      rollback_config: {parallelism: 1}
configs:
  conf:
    file: ./conf.txt
volumes:
  data: {}
"""


@pytest.mark.skipif(not os.access(DOCKER, os.X_OK), reason=f"no docker CLI at {DOCKER} (deploy/test.sh fetches it)")
def test_docker_stack_deploy_of_a_rich_compose_file(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the docker CLI makes of most compose keys reaches svc's spec, and the stack runs."""
    c = build(make_cluster, managers=1, nodes=1)
    sock = os.path.join(c.managers()[0].run_dir, "docker.sock")
    home = str(tmp_path / "home")
    (tmp_path / "conf.txt").write_text("conf")
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(RICH)
    r = _docker(sock, home, "stack", "deploy", "-c", str(compose), "rich")
    assert r.returncode == 0, r
    poll(lambda: c.converged("rich_front", 1), 90, what="rich_front running")
    (s,) = [x for x in c.json_lines("ls") if x["spec"]["name"] == "rich_front"]
    spec = s["spec"]
    assert spec["mode"] == "global" and spec["endpoint_mode"] == "dnsrr", spec
    assert spec["update_config"] == {"parallelism": 2, "order": "start-first", "monitor_seconds": 0}, spec
    t = spec["task"]
    assert t["healthcheck"]["retries"] == 2 and t["resources"]["memory_bytes"] == 64 << 20, t
    assert t["ports"][0]["host_port"] == 18080 and t["ports"][0]["publish_mode"] == "host", t
    out = _docker(sock, home, "stack", "deploy", "-c", str(compose), "rich")
    assert out.returncode == 0, out
    assert _docker(sock, home, "stack", "rm", "rich").returncode == 0
