"""Node metrics, built at scrape time from the engine's current state."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from svc import defaults
from svc.metrics_http import MetricsServer

from .engine import cgroups
from .engine.container import CREATED, EXITED, RUNNING

TASK_LABELS = ("svc.service.name", "svc.task.slot", "svc.task.id")


class EngineCollector(Collector):
    def __init__(self, engine: Any, extra: list[Any] | None = None) -> None:
        self.engine = engine
        self.extra = extra or []

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("svc_build", "svc version")
        info.add_metric([], {"version": defaults.VERSION, "role": "node"})
        yield info
        containers = self.engine.containers(all=True)
        by_state = collections.Counter(c.state for c in containers)
        g = GaugeMetricFamily("svc_node_containers", "Containers on this node by state", labels=["state"])
        for state in (CREATED, RUNNING, EXITED):
            g.add_metric([state], by_state.get(state, 0))
        yield g
        cpu = CounterMetricFamily(
            "svc_container_cpu_seconds",
            "CPU time used by the container",
            labels=["container_name", "service_name", "task_slot"],
        )
        mem = GaugeMetricFamily(
            "svc_container_memory_bytes",
            "Memory used by the container",
            labels=["container_name", "service_name", "task_slot"],
        )
        for c in containers:
            if c.state != RUNNING:
                continue
            usage = cgroups.Cgroup(c.cgroups_path).usage()
            labels = [c.name, c.spec.labels.get(TASK_LABELS[0], ""), c.spec.labels.get(TASK_LABELS[1], "")]
            cpu.add_metric(labels, usage.cpu_seconds)
            mem.add_metric(labels, usage.memory_bytes)
        yield cpu
        yield mem
        yield from _image_metrics(self.engine)
        yield from _overlay_metrics(self.engine)
        ops = HistogramMetricFamily("svc_engine_operation_seconds", "Engine operation latency", labels=["operation"])
        for name, (buckets, total) in sorted(self.engine.latency.snapshot().items()):
            ops.add_metric([name], buckets, total)
        yield ops
        for collector in self.extra:
            yield from collector.collect()


def _overlay_metrics(engine: Any) -> Iterator[Any]:
    """Overlay networks on this node, from what the engine last programmed (no netlink at scrape time)."""
    overlays = getattr(engine, "overlays", None)
    if overlays is None:
        return
    nets, vips = overlays.stats()
    local = GaugeMetricFamily("svc_node_network_endpoints", "Containers here on the network", labels=["network"])
    remote = GaugeMetricFamily(
        "svc_node_network_peers", "Remote endpoints programmed (FDB and neighbour entries)", labels=["network"]
    )
    for name, (n_local, n_remote) in sorted(nets.items()):
        local.add_metric([name], n_local)
        remote.add_metric([name], n_remote)
    backends = GaugeMetricFamily(
        "svc_node_vip_backends", "Tasks a service's VIP balances over", labels=["service_name", "network"]
    )
    for (service, network), n in sorted(vips.items()):
        backends.add_metric([service, network], n)
    yield local
    yield remote
    yield backends


def _image_metrics(engine: Any) -> Iterator[Any]:
    """The image store and its garbage collection (automatic runs and prunes alike)."""
    yield GaugeMetricFamily("svc_node_images", "Images in this node's store", value=len(engine.images.records()))
    yield GaugeMetricFamily(
        "svc_node_image_store_bytes",
        "Bytes of the image store's blobs and unpacked layers",
        value=engine.images.store_bytes(),
    )
    gc = engine.image_gc
    yield CounterMetricFamily("svc_node_image_gc_runs", "Image garbage collections that removed images", value=gc.runs)
    yield CounterMetricFamily(
        "svc_node_image_gc_reclaimed_bytes", "Bytes image garbage collection reclaimed", value=gc.reclaimed_bytes
    )


class AgentCollector(Collector):
    """The cluster session: heartbeat round trip, registrations, tasks assigned to this node."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        session, worker = self.agent.session, self.agent.worker
        if session is None or worker is None:
            return
        yield GaugeMetricFamily(
            "svc_node_heartbeat_rtt_seconds",
            "Round trip of the last heartbeat to the leader",
            value=session.heartbeat_rtt,
        )
        yield CounterMetricFamily(
            "svc_node_registrations", "Sessions this node registered with a leader", value=session.registrations
        )
        yield GaugeMetricFamily(
            "svc_node_session_up",
            "1 while the node holds a session with the leader",
            value=1 if session.session_id else 0,
        )
        yield GaugeMetricFamily(
            "svc_node_assigned_tasks", "Tasks the leader assigned to this node", value=len(worker.assigned)
        )


class NodeMetrics:
    def __init__(self, engine: Any, addr: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.collector = EngineCollector(engine)
        self.registry.register(self.collector)
        self.server = MetricsServer(addr, self.registry, "svc node")

    def add(self, collector: Any) -> None:
        self.collector.extra.append(collector)

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)
