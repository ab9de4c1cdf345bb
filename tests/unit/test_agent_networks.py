"""The agent's part of overlay networks: a task's attachments reach its container spec, and the
managers' peer sets reach the engine (the newest wins; a failed one is tried again)."""

from __future__ import annotations

import asyncio
from typing import Any

from node.agent.worker import Worker
from svc.errors import RuntimeFailure
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb


class _Engine:
    def __init__(self, fail_first: int = 0) -> None:
        self.runs: list[pb.ContainerSpec] = []
        self.networks: list[list[int]] = []
        self.fail_first = fail_first

    def subscribe(self, cb: Any) -> None:
        pass

    def ensure_image(self, *args: Any) -> None:
        pass

    def announce_pulls(self, refs: set[str]) -> None:
        pass

    def run(self, spec: pb.ContainerSpec, name: str = "") -> Any:
        self.runs.append(spec)

    def set_networks(self, networks: list[dpb.NetworkPeers]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeFailure("netlink says no")
        self.networks.append([n.vni for n in networks])


async def _until(cond: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_a_task_s_networks_become_its_container_s_attachments() -> None:
    async def scenario() -> pb.ContainerSpec:
        engine = _Engine()
        worker = Worker(engine, "n1", on_status=lambda: None)  # type: ignore[arg-type]
        att = pb.NetworkAttachment(network_id="net1", network_name="backend", addr="10.0.1.5/24", vni=4096)
        task = cpb.Task(id="t1", service_name="web", slot=1, spec=pb.ContainerSpec(image="busybox"), networks=[att])
        await worker._start(task)
        return engine.runs[0]

    spec = asyncio.run(scenario())
    assert [(a.network_id, a.addr, a.vni) for a in spec.attachments] == [("net1", "10.0.1.5/24", 4096)]


def test_peer_sets_reach_the_engine_newest_first_and_failures_are_retried() -> None:
    async def scenario() -> list[list[int]]:
        engine = _Engine(fail_first=1)
        worker = Worker(engine, "n1", on_status=lambda: None)  # type: ignore[arg-type]
        worker.set_networks([dpb.NetworkPeers(vni=4096)])  # fails once, then is applied again
        await _until(lambda: engine.networks)
        worker.set_networks([dpb.NetworkPeers(vni=4097)])
        worker.set_networks([])  # arrives before the one above was applied: only it is
        await _until(lambda: engine.networks[-1] == [])
        await worker.close()
        return engine.networks

    got = asyncio.run(scenario())
    assert got[0] == [4096] and got[-1] == [] and len(got) <= 3
