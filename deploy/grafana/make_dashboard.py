"""Write svc-dashboard.json (Grafana). Run: python3 deploy/grafana/make_dashboard.py

Cluster-wide figures come from the leader only (`* on(instance) group_left svc_manager_leader`):
every manager exports the same store, and summing them would count each thing once per manager.
"""

import json
import os

LEADER = "* on(instance) group_left() svc_manager_leader"
OFF_TARGET = f"count((svc_service_replicas_desired {LEADER}) != (svc_service_replicas_running {LEADER})) or vector(0)"
PANELS = [
    (
        "Replicas: desired vs running",
        "timeseries",
        [
            (f"sum by (service_name) (svc_service_replicas_desired {LEADER})", "{{service_name}} desired"),
            (f"sum by (service_name) (svc_service_replicas_running {LEADER})", "{{service_name}} running"),
        ],
    ),
    (
        "Services not at their desired count",
        "stat",
        [
            (
                OFF_TARGET,
                "services",
            ),
        ],
    ),
    ("Nodes by state", "timeseries", [(f"sum by (state) (svc_nodes {LEADER})", "{{state}}")]),
    ("Nodes by availability", "timeseries", [(f"sum by (availability) (svc_nodes {LEADER})", "{{availability}}")]),
    ("Tasks by state", "timeseries", [(f"sum by (state) (svc_tasks {LEADER}) > 0", "{{state}}")]),
    (
        "Scheduling delay (created -> running), p50 / p95",
        "timeseries",
        [
            ("histogram_quantile(0.5, sum by (le) (rate(svc_scheduling_delay_seconds_bucket[5m])))", "p50"),
            ("histogram_quantile(0.95, sum by (le) (rate(svc_scheduling_delay_seconds_bucket[5m])))", "p95"),
        ],
    ),
    ("Raft leader", "timeseries", [("svc_manager_leader", "{{instance}}")]),
    (
        "Raft term and commit index",
        "timeseries",
        [
            ("max(svc_raft_term)", "term"),
            ("max(rate(svc_raft_commit_index[1m]))", "commits/s"),
        ],
    ),
    ("Raft peers unreachable (per manager)", "timeseries", [('svc_raft_peers{reachable="false"}', "{{instance}}")]),
    (
        "Container CPU by service (cores)",
        "timeseries",
        [
            ("sum by (service_name) (rate(svc_container_cpu_seconds_total[1m]))", "{{service_name}}"),
        ],
    ),
    (
        "Container memory by service",
        "timeseries",
        [
            ("sum by (service_name) (svc_container_memory_bytes)", "{{service_name}}"),
        ],
    ),
    ("Heartbeat round trip by node", "timeseries", [("svc_node_heartbeat_rtt_seconds", "{{hostname}}")]),
    (
        "Engine operation latency p95",
        "timeseries",
        [
            (
                "histogram_quantile(0.95, sum by (le, operation) (rate(svc_engine_operation_seconds_bucket[5m])))",
                "{{operation}}",
            ),
        ],
    ),
    (
        "Control API errors",
        "timeseries",
        [("sum by (method, code) (rate(svc_controlapi_errors_total[5m]))", "{{method}} {{code}}")],
    ),
]


def dashboard() -> dict:
    panels = []
    for i, (title, kind, queries) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "title": title,
                "type": kind,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "targets": [
                    {"refId": chr(65 + j), "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(queries)
                ],
            }
        )
    return {
        "title": "svc cluster",
        "uid": "svc-cluster",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": panels,
    }


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "svc-dashboard.json")
    with open(path, "w") as f:
        json.dump(dashboard(), f, indent=2)
        f.write("\n")
