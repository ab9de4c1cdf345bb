"""Monitoring: pinned metric names, promtool, a real Prometheus finding the cluster, shipped configs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
from helpers import REPO, free_port, poll
from test_cluster import build

pytestmark = pytest.mark.root

MANAGER_METRICS = {
    "svc_build_info",
    "svc_manager_leader",
    "svc_raft_term",
    "svc_raft_commit_index",
    "svc_store_seq",
    "svc_store_digest",
    "svc_raft_log_entries",
    "svc_raft_peers",
    "svc_nodes",
    "svc_service_replicas_desired",
    "svc_service_replicas_running",
    "svc_tasks",
    "svc_leader_rounds_total",
    "svc_leader_round_errors_total",
    "svc_leader_write_conflicts_total",
    "svc_leader_nodes_marked_down_total",
    "svc_leader_loop_stall_seconds_total",
    "svc_heartbeats_total",
    "svc_heartbeat_datagrams_rejected_total",
    "svc_scheduler_placements_total",
    "svc_scheduling_delay_seconds",
    "svc_controlapi_requests_total",
    "svc_controlapi_errors_total",
}
NODE_METRICS = {
    "svc_build_info",
    "svc_node_containers",
    "svc_container_cpu_seconds_total",
    "svc_container_memory_bytes",
    "svc_engine_operation_seconds",
    "svc_node_heartbeat_rtt_seconds",
    "svc_node_registrations_total",
    "svc_node_session_up",
    "svc_node_assigned_tasks",
    "svc_node_images",
    "svc_node_image_store_bytes",
    "svc_node_image_gc_runs_total",
    "svc_node_image_gc_reclaimed_bytes_total",
    "svc_node_network_endpoints",
    "svc_node_network_peers",
    "svc_node_vip_backends",
}


def scrape(addr: str, path: str = "/metrics") -> tuple[str, str]:
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as r:
        return r.read().decode(), r.headers.get("Content-Type", "")


def families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def exposed_names(text: str) -> set[str]:
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


@pytest.fixture
def monitored(make_cluster):  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=1)
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    c.ok("ls")  # a control API call and an error, so the counters have series
    c.cli(None, "inspect", "nosuch")
    return c


def test_metric_names_are_pinned_and_pass_promtool(monitored) -> None:  # type: ignore[no-untyped-def]
    c = monitored
    m, n = c.managers()[0], c.nodes()[0]
    manager_text, ctype = scrape(f"{m.addr}:9424")
    assert ctype.startswith("text/plain")
    node_text, _ = scrape(f"{n.addr}:9425")
    assert families(manager_text) == MANAGER_METRICS
    assert families(node_text) == NODE_METRICS
    assert 'svc_service_replicas_running{service_name="web"} 2.0' in manager_text
    assert "svc_manager_leader 1.0" in manager_text
    assert re.search(
        r'svc_container_memory_bytes\{container_name="web\.\d\.\w+",service_name="web",task_slot="\d"\}', node_text
    )
    for text in (manager_text, node_text):
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    landing, ctype = scrape(f"{m.addr}:9424", "/")
    assert "text/html" in ctype and "/metrics" in landing


def test_service_discovery_document(monitored) -> None:  # type: ignore[no-untyped-def]
    c = monitored
    m, n = c.managers()[0], c.nodes()[0]
    c.ok(
        "create", "--name", "site", "-p", f"{free_port(n.addr)}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/www"
    )
    body, ctype = scrape(f"{m.addr}:9424", "/sd")
    assert ctype == "application/json"
    groups = json.loads(body)
    assert all(
        set(g) == {"targets", "labels"} and all(isinstance(v, str) for v in g["labels"].values()) for g in groups
    )
    targets = {g["targets"][0]: g["labels"] for g in groups}
    assert targets[f"{m.addr}:9424"]["svc_kind"] == "manager"
    assert targets[f"{n.addr}:9425"]["svc_kind"] == "node"
    task = [labels for labels in targets.values() if labels["svc_kind"] == "task"]
    assert task and task[0]["service_name"] == "site" and task[0]["task_slot"] == "1"
    assert task[0]["node_hostname"] == f"node-{n.name}"


def test_prometheus_finds_the_cluster_and_counts_replicas(monitored, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = monitored
    m = c.managers()[0]
    with open(os.path.join(REPO, "deploy", "prometheus", "prometheus.yml")) as f:
        config = f.read()
    config = config.replace("http://127.0.0.1:9424/sd", f"http://{m.addr}:9424/sd")
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s").replace(
        "refresh_interval: 15s", "refresh_interval: 1s"
    )
    (tmp_path / "prometheus.yml").write_text(config)
    port = free_port()
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def query(expr: str) -> list:  # type: ignore[type-arg]
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            with urllib.request.urlopen(url, timeout=5) as r:
                doc = json.loads(r.read())
            assert doc["status"] == "success"
            return doc["data"]["result"]

        def up_targets() -> int:
            return len([r for r in query('up{job="svc"}') if r["value"][1] == "1"])

        poll(lambda: up_targets() == 2, 60, 0.5, what="Prometheus to scrape the manager and the node")
        running = 'svc_service_replicas_running{service_name="web"}'
        for want in (5, 2):
            c.ok("scale", f"web={want}")
            poll(
                lambda w=want: [r for r in query(running) if float(r["value"][1]) == w],
                60,
                0.5,
                what=f"Prometheus to see {want} running",
            )
    finally:
        prom.terminate()
        prom.wait(10)


def test_grpc_health_on_both_daemons(monitored) -> None:  # type: ignore[no-untyped-def]
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from svc import tls

    c = monitored
    m, n = c.managers()[0], c.nodes()[0]
    ident = tls.Identity.load(m.admin_dir)
    with tls.secure_channel(m.api, ident, aio=False) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(f"unix:{n.run_dir}/engine.sock") as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_shipped_configs_check_out() -> None:
    r = subprocess.run(
        ["promtool", "check", "config", os.path.join(REPO, "deploy", "prometheus", "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    if shutil.which("systemd-analyze"):
        units = os.path.join(REPO, "deploy", "systemd")
        for unit in sorted(os.listdir(units)):
            r = subprocess.run(["systemd-analyze", "verify", os.path.join(units, unit)], capture_output=True, text=True)
            assert r.returncode == 0, f"{unit}: {r.stderr}"
            text = open(os.path.join(units, unit)).read()
            assert "Type=notify" in text
            if "node" in unit or "up" in unit:
                assert "Delegate=yes" in text and "KillMode=process" in text
    with open(os.path.join(REPO, "deploy", "grafana", "svc-dashboard.json")) as f:
        dashboard = json.load(f)
    exported = set()
    for name in MANAGER_METRICS | NODE_METRICS:
        exported |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\bsvc_[a-z_]+", target["expr"]))
    assert used and used <= exported, used - exported
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in (
        "desired vs running",
        "nodes by state",
        "scheduling delay",
        "raft leader",
        "raft term",
        "cpu",
        "memory",
    ):
        assert topic in titles


def test_dashboard_file_is_generated_from_its_source() -> None:
    r = subprocess.run(["python3", os.path.join(REPO, "deploy", "grafana", "make_dashboard.py")], capture_output=True)
    assert r.returncode == 0
    assert subprocess.run(["git", "-C", REPO, "diff", "--quiet", "deploy/grafana/svc-dashboard.json"]).returncode == 0
