"""Manager metrics, built at scrape time from the store, plus HTTP service discovery for Prometheus.

Every manager answers for itself (`svc_manager_leader` says which one leads); cluster-wide
figures (nodes, services, tasks) come from the local replica of the store.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from svc import defaults
from svc.metrics_http import MetricsServer
from svc.netaddr import split_addr

from . import views
from .core import Manager
from .leader import LeaderLoop
from .store.objects import RUNNING, TASK_STATES
from .store.state import Changes

SCHEDULING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


class StoreCollector(Collector):
    def __init__(self, manager: Manager, leader: LeaderLoop) -> None:
        self.m = manager
        self.leader = leader

    def collect(self) -> Iterator[Any]:
        m = self.m
        info = InfoMetricFamily("svc_build", "svc version")
        info.add_metric([], {"version": defaults.VERSION, "role": "manager"})
        yield info
        yield GaugeMetricFamily("svc_manager_leader", "1 if this manager is the Raft leader", value=int(m.is_leader))
        yield GaugeMetricFamily("svc_raft_term", "Current Raft term", value=m.raft.term)
        yield GaugeMetricFamily("svc_raft_commit_index", "Raft commit index", value=m.raft.commit_index)
        yield GaugeMetricFamily(
            "svc_store_seq", "Operations this manager's store has applied that changed it", value=m.state.seq
        )
        yield GaugeMetricFamily(
            "svc_store_digest",
            "48 bits of a digest of this manager's store: equal on managers that applied the same log",
            value=m.state.digest(),
        )
        yield GaugeMetricFamily(
            "svc_raft_log_entries", "Entries in the Raft log since the last snapshot", value=m.raft.log_size()
        )
        peers = GaugeMetricFamily(
            "svc_raft_peers", "Raft members by reachability from this manager", labels=["reachable"]
        )
        members = m.raft.members()
        peers.add_metric(["true"], sum(members.values()))
        peers.add_metric(["false"], len(members) - sum(members.values()))
        yield peers
        snap = m.snapshot()
        nodes = GaugeMetricFamily(
            "svc_nodes", "Nodes by state, availability and role", labels=["state", "availability", "role"]
        )
        for (state, avail, role), n in sorted(
            collections.Counter((x.state, x.availability, x.role) for x in snap.nodes.values()).items()
        ):
            nodes.add_metric([state, avail, role], n)
        yield nodes
        desired = GaugeMetricFamily(
            "svc_service_replicas_desired", "Tasks a service should run", labels=["service_name"]
        )
        running = GaugeMetricFamily(
            "svc_service_replicas_running", "Tasks of a service running (healthy if checked)", labels=["service_name"]
        )
        for sid, (run, want) in views.service_counts(snap).items():
            name = snap.services[sid].name
            desired.add_metric([name], want)
            running.add_metric([name], run)
        yield desired
        yield running
        tasks = GaugeMetricFamily("svc_tasks", "Tasks by observed state", labels=["state"])
        by_state = collections.Counter(t.state for t in snap.tasks.values())
        for state in TASK_STATES:
            tasks.add_metric([state], by_state.get(state, 0))
        yield tasks
        yield CounterMetricFamily(
            "svc_leader_rounds", "Leader loop rounds run by this manager", value=self.leader.rounds
        )
        yield CounterMetricFamily(
            "svc_scheduler_placements", "Tasks placed by this manager's scheduler", value=self.leader.placements
        )
        yield CounterMetricFamily(
            "svc_leader_round_errors", "Leader rounds whose writes failed", value=self.leader.round_errors
        )
        yield CounterMetricFamily(
            "svc_leader_write_conflicts",
            "Task updates the store skipped as stale (compare-and-set conflicts)",
            value=self.leader.write_conflicts,
        )
        beats = CounterMetricFamily("svc_heartbeats", "Node heartbeats this leader took, by path", labels=["path"])
        for path, n in sorted(self.leader.dispatcher.beats.items()):
            beats.add_metric([path], n)
        yield beats
        rejected = CounterMetricFamily(
            "svc_heartbeat_datagrams_rejected", "Heartbeat datagrams dropped, by reason", labels=["reason"]
        )
        for reason, n in sorted(self.leader.dispatcher.datagrams_rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield CounterMetricFamily(
            "svc_leader_nodes_marked_down", "Nodes this leader marked down", value=self.leader.nodes_marked_down
        )
        yield CounterMetricFamily(
            "svc_leader_loop_stall_seconds",
            "Time this leader's event loop could not run (not counted against nodes' heartbeats)",
            value=self.leader.dispatcher.stall.total,
        )


class ManagerMetrics:
    def __init__(self, manager: Manager, leader: LeaderLoop, addr: str) -> None:
        self.m = manager
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(StoreCollector(manager, leader))
        self.scheduling = Histogram(
            "svc_scheduling_delay_seconds",
            "Time from task creation to running",
            buckets=SCHEDULING_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "svc_controlapi_requests", "Control API calls by method", ["method"], registry=self.registry
        )
        self.errors = Counter(
            "svc_controlapi_errors",
            "Control API calls that failed, by method and code",
            ["method", "code"],
            registry=self.registry,
        )
        self._seen_running: set[str] = set()
        manager.on_change(self._on_change)
        self.server = MetricsServer(addr, self.registry, "svc manager", routes={"/sd": self.service_discovery})
        manager.rpc_observer = self.observe_call

    def observe_call(self, method: str, code: str) -> None:
        if not method.startswith("/svc.v1.Control/"):
            return
        name = method.rsplit("/", 1)[-1]
        self.requests.labels(name).inc()
        if code != "OK":
            self.errors.labels(name, code).inc()

    def _on_change(self, op: str, changes: Changes) -> None:
        if op != "tasks.status":
            return
        tasks = self.m.state.tasks
        for tid in changes.tasks:
            t = tasks.get(tid)
            if t is not None and t.state == RUNNING and tid not in self._seen_running:
                self._seen_running.add(tid)
                self.scheduling.observe(max(0.0, t.status.timestamp - t.created_at))
        if len(self._seen_running) > 200_000:
            live = set(tasks)
            self._seen_running &= live

    def service_discovery(self) -> list[dict[str, Any]]:
        """Prometheus HTTP SD: every daemon's /metrics, and every running task's published ports."""
        snap = self.m.snapshot()
        groups: list[dict[str, Any]] = []
        for node in sorted(snap.nodes.values(), key=lambda n: n.id):
            if node.role == "manager" and node.manager_metrics_addr:
                groups.append(
                    {
                        "targets": [node.manager_metrics_addr],
                        "labels": {"svc_kind": "manager", "node_hostname": node.hostname, "node_id": node.id},
                    }
                )
            target = _reachable(node.description.metrics_addr, node.description.addr)
            if target and node.description.runtime:
                groups.append(
                    {
                        "targets": [target],
                        "labels": {
                            "svc_kind": "node",
                            "node_hostname": node.hostname,
                            "node_id": node.id,
                            "node_role": node.role,
                        },
                    }
                )
        names = {s.id: s.name for s in snap.services.values()}
        for t in sorted(snap.tasks.values(), key=lambda t: t.id):
            if t.state != RUNNING or t.desired_state != RUNNING:
                continue
            owner = snap.nodes.get(t.node_id)
            host = owner.description.addr if owner else ""
            for p in t.spec.ports:
                if p.host_port and host:
                    groups.append(
                        {
                            "targets": [f"{p.host_ip or host}:{p.host_port}"],
                            "labels": {
                                "svc_kind": "task",
                                "service_name": names.get(t.service_id, ""),
                                "task_slot": str(t.slot),
                                "task_id": t.id,
                                "node_hostname": owner.hostname if owner else "",
                            },
                        }
                    )
        return groups

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)


def _reachable(metrics_addr: str, node_addr: str) -> str:
    """A metrics address as another host reaches it (0.0.0.0 becomes the node's address)."""
    if not metrics_addr:
        return ""
    host, port = split_addr(metrics_addr)
    if host in ("0.0.0.0", "::", ""):
        host = node_addr.rsplit(":", 1)[0] if node_addr else ""
    return f"{host}:{port}" if host else ""
