"""Stacks from a compose file on a real cluster (issue #15 item 4): one manager and one node.

web (busybox httpd, a published port) and api (a secret, a named volume) on a network: deploy makes
app_web, app_api, app_back and app_token, labelled with the stack (the node makes the volume
app_data); stack ls/services/ps show them; a redeploy of the same file replaces no task; a changed
environment for api updates api alone (its new task finds what the old one wrote to the volume);
bad files (not YAML, a schema violation, an undefined external network, a missing secret file) are
one line, non-zero, and make nothing; stack rm leaves no service, network or secret.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli

pytestmark = pytest.mark.root

COMPOSE = """
services:
  web:
    image: busybox
    command: httpd -f -p 8080
    ports: ["${WEB_PORT}:8080"]
    networks: [back]
  api:
    image: busybox
    command: ["sleep", "1000000"]
    environment:
      MODE: ${API_MODE:-one}
    networks:
      back: {aliases: [backend]}
    secrets: [token]
    volumes: [data:/data]
networks:
  back: {}
volumes:
  data: {}
secrets:
  token: {file: ./token.txt}
"""


def _running(c: Any, service: str) -> list[str]:
    return sorted(t["id"] for t in c.json_lines("ps", service) if t["status"]["state"] == "running")


def test_stack_deploy_redeploy_and_rm(make_cluster: Any, tmp_path: Any) -> None:
    c = make_cluster()
    c.start_manager(c.add_host())
    node = c.start_node(c.add_host())
    c.import_image(node, c.busybox)
    value = f"tok-{uuid.uuid4().hex}"
    (tmp_path / "token.txt").write_text(value)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    port = str(20000 + os.getpid() % 10000)
    base = {"SVC_HOST": c.any_live_manager().api, "SVC_TLS_DIR": c.admin_dir(), "WEB_PORT": port}

    def stack(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_cli("stack", *args, env={**base, **env}, timeout=120)

    r = stack("deploy", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "Creating network app_back",
        "Creating secret app_token",
        "Creating service app_api",
        "Creating service app_web",
    ]
    poll(lambda: c.converged("app_web", 1) and c.converged("app_api", 1), timeout=90, what="the stack running")
    assert stack("ls").stdout.split() == ["NAME", "SERVICES", "app", "2"]
    services = stack("services", "app").stdout
    assert "app_api" in services and "app_web" in services and f":{port}->8080/tcp" in services
    ps = stack("ps", "app").stdout
    assert "app_api.1" in ps and "app_web.1" in ps
    svc = c.json_lines("ls")
    assert {s["spec"]["labels"]["com.docker.stack.namespace"] for s in svc} == {"app"}
    api_net = [n for n in c.json_lines("network", "ls") if n["spec"]["name"] == "app_back"]
    assert api_net and api_net[0]["spec"]["labels"] == {"com.docker.stack.namespace": "app"}
    assert [s["Spec"]["Labels"] for s in c.json_lines("secret", "ls")] == [{"com.docker.stack.namespace": "app"}]

    # the secret in api's task; web answers on its published port
    def api_exec(*cmd: str) -> str:
        [(h, ctr)] = [
            (h, ctr)
            for h in c.nodes()
            for ctr in c.running_containers(h)
            if ctr.get("labels", {}).get("svc.service.name") == "app_api" and ctr.get("state") == "running"
        ]
        got = run_cli("container", "exec", ctr["id"], *cmd, env={"SVC_RUN_DIR": h.run_dir})
        assert got.returncode == 0, got.stderr
        return got.stdout

    assert api_exec("cat", "/run/secrets/token") == value
    assert api_exec("sh", "-c", "echo kept > /data/x && grep -c ' /data ' /proc/mounts").strip() == "1"
    web, api = _running(c, "app_web"), _running(c, "app_api")

    # The same file again: no task replaced.
    r = stack("deploy", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert "Creating" not in r.stdout
    assert _running(c, "app_web") == web and _running(c, "app_api") == api

    # api's environment changed: api alone is updated.
    r = stack("deploy", "-c", str(compose), "--resolve-image", "changed", "app", API_MODE="two")
    assert r.returncode == 0, r.stderr
    assert [line.split(" (")[0] for line in r.stdout.splitlines()] == ["Updating service app_api"]
    poll(lambda: (n := _running(c, "app_api")) and n != api, timeout=90, what="api's new task")
    assert _running(c, "app_web") == web
    [doc] = [s for s in c.json_lines("ls") if s["spec"]["name"] == "app_api"]
    assert "MODE=two" in doc["spec"]["task"]["env"]
    poll(lambda: c.converged("app_api", 1), timeout=60, what="api's new task running")
    assert api_exec("cat", "/data/x") == "kept\n"

    # Bad input: one line, non-zero, nothing made.
    (tmp_path / "bad.yml").write_text("services: [\n")
    (tmp_path / "schema.yml").write_text("services:\n  web: {image: busybox, deploy: {replicas: many}}\n")
    (tmp_path / "ext.yml").write_text(
        "services:\n  web: {image: busybox, networks: [outside]}\nnetworks:\n  outside: {external: true}\n"
    )
    (tmp_path / "nofile.yml").write_text(
        "services:\n  web: {image: busybox, secrets: [s]}\nsecrets:\n  s: {file: ./missing.txt}\n"
    )
    for name, why in (
        ("bad.yml", "not a valid YAML file"),
        ("schema.yml", "services.web.deploy.replicas must be integer"),
        ("ext.yml", "network outside is declared as external, but could not be found"),
        ("nofile.yml", "secret s: no such file"),
    ):
        r = stack("deploy", "-c", str(tmp_path / name), "bad")
        assert r.returncode != 0 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
    assert stack("ls").stdout.split() == ["NAME", "SERVICES", "app", "2"]
    assert not [n for n in c.json_lines("network", "ls") if n["spec"]["name"].startswith("bad_")]

    # stack rm: nothing of the stack is left.
    r = stack("rm", "app")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "Removing service app_api",
        "Removing service app_web",
        "Removing secret app_token",
        "Removing network app_back",
    ]
    assert c.json_lines("ls") == [] and c.json_lines("secret", "ls") == []
    assert not [n for n in c.json_lines("network", "ls") if n["spec"]["name"].startswith("app_")]
    assert stack("ls").stdout.split() == ["NAME", "SERVICES"]
    poll(lambda: not [x for x in c.running_containers(node) if x.get("state") == "running"], timeout=60)
