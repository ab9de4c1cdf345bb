"""A whole application from one compose file on a real cluster (issue #15): one manager and one node.

db (busybox: `nc` serves what it wrote to a named volume; init, ulimits and a sysctl) and web (a
secret, a config, an extra host, a tmpfs; depends_on db being healthy) on one stack network:
`--dry-run` prints the writes and where the leader would place tasks (or why not), and makes nothing;
the deploy makes db, waits for it, then makes web;
inside the containers: the secret's content and mode, the config's content, tini as PID 1, the
rlimit, the sysctl, /etc/hosts, the tmpfs, and web reaching db by name over the network; db's task
replaced keeps the volume's data; an unchanged redeploy replaces no task; `stack rm` leaves no
service, network, secret or config (the volume stays, as docker keeps it). A depends_on cycle and a
host-wide sysctl are refused in one line, making nothing; a dependency that never gets healthy
stops the deploy after --depends-timeout, naming it and what was made.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli

pytestmark = pytest.mark.root

COMPOSE = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo start >> /data/log; while true; do nc -l -p 7000 < /data/log; done"]
    volumes: [data:/data]
    init: true
    ulimits: {nofile: {soft: 1000, hard: 2000}}
    sysctls: {net.core.somaxconn: 512}
    healthcheck: {test: "test -s /data/log", interval: 1s, retries: 3}
    deploy: {restart_policy: {condition: any, delay: 1s}}
    networks: [back]
  web:
    image: busybox
    command: ["sleep", "1000000"]
    depends_on: {db: {condition: service_healthy}}
    secrets: [{source: token, mode: 0400}]
    configs: [{source: conf, target: /etc/app.conf}]
    extra_hosts: ["upstream:10.9.8.7"]
    tmpfs: ["/scratch:size=1m"]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
secrets:
  token: {file: ./token.txt}
configs:
  conf: {file: ./app.conf}
"""


def _running(c: Any, service: str) -> list[str]:
    return sorted(t["id"] for t in c.json_lines("ps", service) if t["status"]["state"] == "running")


def _nothing_of(c: Any, stack: str) -> bool:
    return (
        not [s for s in c.json_lines("ls") if s["spec"]["name"].startswith(f"{stack}_")]
        and not [n for n in c.json_lines("network", "ls") if n["spec"]["name"].startswith(f"{stack}_")]
        and c.json_lines("secret", "ls") == []
        and c.json_lines("config", "ls") == []
    )


def test_one_compose_file_with_a_secret_a_config_a_volume_and_a_network(make_cluster: Any, tmp_path: Any) -> None:
    c = make_cluster()
    c.start_manager(c.add_host())
    node = c.start_node(c.add_host())
    c.import_image(node, c.busybox)
    value = f"tok-{uuid.uuid4().hex}"
    (tmp_path / "token.txt").write_text(value)
    (tmp_path / "app.conf").write_text("listen=7000\n")
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    env = {"SVC_HOST": c.any_live_manager().api, "SVC_TLS_DIR": c.admin_dir()}

    def stack(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("stack", *args, env=env, timeout=180)

    def container(service: str) -> str:
        [cid] = [
            x["id"]
            for x in c.running_containers(node)
            if x.get("labels", {}).get("svc.service.name") == service and x.get("state") == "running"
        ]
        return str(cid)

    def exec_in(service: str, *cmd: str) -> str:
        got = run_cli("container", "exec", container(service), *cmd, env={"SVC_RUN_DIR": node.run_dir}, timeout=30)
        assert got.returncode == 0, (cmd, got.stderr)
        return got.stdout

    # Bad input: one line, non-zero, nothing made.
    (tmp_path / "cycle.yml").write_text(
        "services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [a]}\n"
    )
    (tmp_path / "sysctl.yml").write_text("services:\n  a: {image: busybox, sysctls: {kernel.pid_max: 9}}\n")
    for name, why in (
        ("cycle.yml", "depends_on has a cycle: a -> b -> a"),
        ("sysctl.yml", "sysctl kernel.pid_max is not allowed"),
    ):
        r = stack("deploy", "-c", str(tmp_path / name), "app")
        assert r.returncode != 0 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
    assert _nothing_of(c, "app")

    # --dry-run: the writes, in order, each service's placement by the leader's scheduler, and none made.
    here = f"node-{node.name}"  # the manager runs no engine: no candidate
    r = stack("deploy", "--dry-run", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "Would create network app_back",
        "Would create secret app_token",
        "Would create config app_conf",
        "Would create service app_db",
        f"Would place app_db: 1 on {here}",
        "Would create service app_web",
        f"Would place app_web: 1 on {here}",
    ]
    (tmp_path / "eu.yml").write_text(
        "services:\n  a: {image: busybox, deploy: {replicas: 2, placement: {constraints: [node.labels.zone==eu]}}}\n"
    )
    r = stack("deploy", "--dry-run", "-c", str(tmp_path / "eu.yml"), "app")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == (
        "Would not place 2 tasks of app_a: no suitable node (constraint node.labels.zone==eu not met on 1 node)"
    )
    assert _nothing_of(c, "app")

    # The deploy: db first, web once db is healthy.
    r = stack("deploy", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "Creating network app_back",
        "Creating secret app_token",
        "Creating config app_conf",
        "Creating service app_db",
        "Waiting for service app_db (healthy) before app_web",
        "Creating service app_web",
    ]
    [web_svc] = [s for s in c.json_lines("ls") if s["spec"]["name"] == "app_web"]
    [db_task] = [t for t in c.json_lines("ps", "app_db") if t["status"]["state"] == "running"]
    assert db_task["status"]["timestamp"] <= web_svc["created_at"]
    poll(lambda: c.converged("app_web", 1) and c.converged("app_db", 1), timeout=90, what="the stack running")

    # web: the secret, the config, the extra host, the tmpfs, and db by name on the stack network.
    assert exec_in("app_web", "cat", "/run/secrets/token") == value
    assert exec_in("app_web", "stat", "-c", "%a", "/run/secrets/token").strip() == "400"
    assert exec_in("app_web", "cat", "/etc/app.conf") == "listen=7000\n"
    assert "10.9.8.7\tupstream" in exec_in("app_web", "cat", "/etc/hosts")
    assert [ln for ln in exec_in("app_web", "cat", "/proc/mounts").splitlines() if " /scratch tmpfs " in ln]

    def from_db() -> str:
        got = run_cli("container", "exec", container("app_web"), "nc", "-w", "2", "db", "7000",
                      env={"SVC_RUN_DIR": node.run_dir}, timeout=30)  # fmt: skip
        return got.stdout if got.returncode == 0 else ""

    assert poll(from_db, timeout=30, what="web to reach db by name") == "start\n"

    # db: tini as PID 1, the rlimit, the sysctl in its own namespace.
    assert "docker-init" in exec_in("app_db", "cat", "/proc/1/cmdline")
    [files] = [ln for ln in exec_in("app_db", "cat", "/proc/1/limits").splitlines() if "open files" in ln]
    assert files.split()[3:5] == ["1000", "2000"]
    assert exec_in("app_db", "cat", "/proc/sys/net/core/somaxconn").strip() == "512"

    # db's task replaced (its container killed): the new task finds the volume's data.
    old = _running(c, "app_db")
    kill = run_cli("container", "kill", container("app_db"), env={"SVC_RUN_DIR": node.run_dir})
    assert kill.returncode == 0, kill.stderr
    poll(lambda: (n := _running(c, "app_db")) and n != old, timeout=90, what="db's new task")
    poll(lambda: c.converged("app_db", 1), timeout=60, what="db's new task running")
    assert exec_in("app_db", "cat", "/data/log") == "start\nstart\n"
    assert poll(lambda: from_db() == "start\nstart\n" or None, timeout=30, what="web to reach db's new task")

    # The same file again: nothing created, no task replaced (and --dry-run says so).
    db, web = _running(c, "app_db"), _running(c, "app_web")
    r = stack("deploy", "--dry-run", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("Would place")] == [
        "Would place app_db: no new tasks",
        "Would place app_web: no new tasks",
    ], r.stdout
    r = stack("deploy", "-c", str(compose), "app")
    assert r.returncode == 0, r.stderr
    assert "Creating" not in r.stdout and "Waiting" not in r.stdout
    assert _running(c, "app_db") == db and _running(c, "app_web") == web

    # stack rm: no service, network, secret or config of the stack; the volume stays.
    r = stack("rm", "app")
    assert r.returncode == 0, r.stderr
    assert _nothing_of(c, "app")
    poll(lambda: not [x for x in c.running_containers(node) if x.get("state") == "running"], timeout=60)
    vols = run_cli("volume", "ls", "--format", "json", env={"SVC_RUN_DIR": node.run_dir})
    assert [json.loads(line)["Name"] for line in vols.stdout.splitlines() if line.strip()] == ["app_data"]

    # A dependency that never becomes healthy: the deploy gives up after --depends-timeout, saying
    # what it made; web is not created.
    (tmp_path / "sick.yml").write_text(
        "services:\n  db: {image: busybox, command: [sleep, '1000000'], healthcheck: {test: 'false', interval: 1s}}\n"
        "  web: {image: busybox, depends_on: {db: {condition: service_healthy}}}\n"
    )
    r = stack("deploy", "--depends-timeout", "3", "-c", str(tmp_path / "sick.yml"), "sick")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "service sick_web depends on sick_db, which is not healthy after 3 s (0/1 running)" in r.stderr
    assert "(done before it: network sick_default, service sick_db; deploy again to complete)" in r.stderr
    assert [s["spec"]["name"] for s in c.json_lines("ls")] == ["sick_db"]
    assert stack("rm", "sick").returncode == 0
