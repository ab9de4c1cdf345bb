"""The Engine API adapter without a cluster: Docker's JSON round-trips svc's specs exactly (an update that
changes nothing replaces no task), what svc cannot do is refused by name, filters, the one error mapping,
and the aiohttp app's negotiation and errors over a fake control API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from manager import servicespec
from manager.engineapi import shapes, specin
from manager.engineapi.server import EngineAPI
from manager.store.state import _template_changed
from svc import errors
from svc.dockerapi import proto
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as cnt


def _spec() -> cpb.ServiceSpec:
    s = cpb.ServiceSpec(name="web", replicas=3, labels={"a": "b"}, endpoint_mode="dnsrr")
    t = s.task
    t.image, t.cmd[:], t.entrypoint[:], t.env[:] = "busybox:latest", ["sleep", "1"], ["/bin/sh"], ["X=1"]
    t.workdir, t.user, t.hostname, t.read_only, t.stop_signal = "/w", "1000", "h", True, "SIGINT"
    t.stop_grace_seconds = 3.5
    t.ports.add(container_port=80, host_port=8080)
    t.ports.add(container_port=53, host_port=53, protocol="udp", host_ip="127.0.0.1")
    t.healthcheck.CopyFrom(cnt.HealthConfig(test=["CMD", "true"], interval_seconds=2, retries=3))
    t.cap_add.append("NET_ADMIN")
    t.resources.memory_bytes = 1 << 26
    t.runtime = "crun"
    t.seccomp.mode = "unconfined"
    t.secrets.add(id="s1", name="pw", target="/run/secrets/pw", uid=1, gid=2, mode=0o400)
    s.placement.constraints.append("node.role==worker")
    s.restart.condition, s.restart.delay_seconds = "on-failure", 1.5
    s.networks.add(target="net1", aliases=["w"])
    s.force_update = 2
    s.update_config.CopyFrom(
        cpb.UpdateConfig(parallelism=0, delay_seconds=1.5, failure_action="rollback", order="start-first")
    )
    s.rollback_config.CopyFrom(cpb.UpdateConfig(monitor_seconds=0, max_failure_ratio=0.5))
    t.ports[0].publish_mode, t.ports[1].publish_mode = "host", "ingress"  # as the managers store them
    t.init, t.sysctls["net.core.somaxconn"], t.extra_hosts[:] = True, "1024", ["10.0.0.1 db"]
    t.ulimits.add(name="nofile", soft=1024, hard=2048)
    t.mounts.add(type="volume", source="data", target="/data", volume_labels={"k": "v"})
    t.mounts.add(type="bind", source="/srv", target="/x", read_only=True)
    t.mounts.add(type="tmpfs", target="/tmp", tmpfs_size_bytes=1 << 20, tmpfs_mode=0o700)
    return servicespec.validate(s)


@pytest.mark.parametrize("make", [_spec, lambda: servicespec.validate(cpb.ServiceSpec(name="x", task={"image": "b"}))])
def test_a_spec_round_trips_through_dockers_json(make: Any) -> None:
    spec = make()
    doc = json.loads(json.dumps(shapes.service_spec(spec)))
    back = specin.service_spec(doc)
    specin.keep_unseen(back, spec)
    back = servicespec.validate(back)
    assert not _template_changed(spec, back), (spec, back)
    assert back.replicas == spec.replicas and dict(back.labels) == dict(spec.labels)


def test_dockers_cli_defaults_are_accepted_and_the_rest_refused_by_name() -> None:
    doc = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Isolation": "default", "Init": None},
                         "ForceUpdate": 0, "Runtime": "container", "Resources": {"Limits": {}, "Reservations": {}}},
        "Mode": {"Replicated": {"Replicas": 2}},
        "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000, "Order": "stop-first"},
        "EndpointSpec": {"Mode": "vip"},
    }  # fmt: skip
    s = specin.service_spec(doc)
    assert s.replicas == 2 and s.task.image == "busybox" and not s.task.HasField("resources")
    assert not s.HasField("update_config")  # docker's defaults are svc's: nothing stored
    doc["UpdateConfig"]["Parallelism"] = 2  # type: ignore[index]
    doc["UpdateConfig"]["Order"] = "start-first"  # type: ignore[index]
    s = specin.service_spec(doc)
    assert s.update_config == cpb.UpdateConfig(parallelism=2, order="start-first")
    doc["UpdateConfig"]["Bogus"] = 1  # type: ignore[index]
    with pytest.raises(errors.InvalidArgument, match=r"^UpdateConfig.Bogus is not supported by svc$"):
        specin.service_spec(doc)
    bind = {"Type": "bind", "Source": "/a", "Target": "/b", "BindOptions": {"Propagation": "rshared"}}
    with pytest.raises(errors.InvalidArgument, match=r"ContainerSpec\.Mounts\[0\]\.BindOptions is not supported"):
        specin.service_spec({"TaskTemplate": {"ContainerSpec": {"Image": "b", "Mounts": [bind]}}})
    with pytest.raises(errors.InvalidArgument, match=r"^TaskTemplate\.Runtime is not supported by svc$"):
        specin.service_spec({"TaskTemplate": {"Runtime": "plugin"}})
    with pytest.raises(errors.InvalidArgument, match=r"Mode\.ReplicatedJob is not supported"):
        specin.service_spec({"Mode": {"ReplicatedJob": {"MaxConcurrent": 1}}})
    with pytest.raises(errors.InvalidArgument, match=r"^Mode\.GlobalJob is not supported by svc$"):
        specin.service_spec({"Mode": {"GlobalJob": {}}})


def test_filters_and_the_one_status_mapping() -> None:
    f = proto.filters('{"service":{"web":true},"desired-state":{"running":true,"accepted":true}}')
    assert f == {"service": ["web"], "desired-state": ["accepted", "running"]}
    assert proto.filters('{"name":["a"]}') == {"name": ["a"]}
    assert shapes.filter_sets(f) == [
        ["desired-state=accepted", "service=web"],
        ["desired-state=running", "service=web"],
    ]
    assert shapes.filter_sets({"name": ["n"]}, {"name": "hostname"}) == [["hostname=n"]]
    with pytest.raises(errors.InvalidArgument):
        proto.filters("{bad")
    assert [proto.http_status(e("x")) for e in (errors.NotFound, errors.AlreadyExists, errors.InvalidArgument)] == [
        404,
        409,
        400,
    ]
    assert proto.http_status(errors.Unavailable("x")) == 503 and proto.http_status(ValueError()) == 500
    assert proto.rfc3339(0) == "0001-01-01T00:00:00Z" and proto.rfc3339(1.5) == "1970-01-01T00:00:01.500000Z"


class _FakeControl:
    async def GetService(self, request: Any, context: Any) -> Any:
        raise errors.NotFound(f"no such service: {request.service}")

    async def ListServices(self, request: Any, context: Any) -> Any:
        svc = cpb.Service(id="abc", spec=_spec(), version=7, running=1, desired=3)
        return type("R", (), {"services": [svc]})()


def test_the_app_negotiates_and_answers_dockers_errors() -> None:
    async def run() -> None:
        api = EngineAPI(type("M", (), {"node_id": "n1", "api_addr": "1.2.3.4:4242", "hostname": "h"})(), _FakeControl())  # type: ignore[arg-type]
        async with TestClient(TestServer(api.app())) as client:
            r = await client.head("/_ping")
            assert r.status == 200 and r.headers["API-Version"] == "1.41" and r.headers["Swarm"] == "active/manager"
            assert r.headers["OSType"] == "linux"
            r = await client.get("/v1.41/services/nosuch")
            assert r.status == 404 and await r.json() == {"message": "no such service: nosuch"}
            r = await client.get("/v1.99/services")
            assert r.status == 400 and "too new" in (await r.json())["message"]
            r = await client.get("/v1.40/services", params={"status": "true"})
            (doc,) = await r.json()
            assert doc["ServiceStatus"] == {"RunningTasks": 1, "DesiredTasks": 3, "CompletedTasks": 0}
            assert doc["Version"] == {"Index": 7} and doc["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
            r = await client.post("/v1.41/services/create", data=b"{not json")
            assert r.status == 400 and "not JSON" in (await r.json())["message"]
            r = await client.get("/v1.41/containers/json")
            assert r.status == 501 and "svc does not serve GET /v1.41/containers/json" in (await r.json())["message"]

    asyncio.run(run())


# Every field of svc's specs, and how the adapter carries it: a new field fails here until it is mapped
# (shapes + specin) or kept on update (specin.keep_unseen), so an update through docker never drops it.
_SERVICE_FIELDS = {"name", "mode", "replicas", "task", "placement", "reservations", "restart", "labels",
                   "registry_auth", "networks", "endpoint_mode", "force_update", "update_config",
                   "rollback_config"}  # fmt: skip
_CONTAINER_FIELDS = {"image", "entrypoint", "cmd", "env", "workdir", "user", "hostname", "ports", "network",
                     "resources", "healthcheck", "labels", "stop_signal", "stop_grace_seconds", "cap_add",
                     "cap_drop", "read_only", "runtime", "no_healthcheck", "seccomp", "attachments", "secrets",
                     "configs", "mounts", "init", "sysctls", "ulimits", "extra_hosts"}  # fmt: skip


def test_every_spec_field_is_carried_or_kept() -> None:
    assert {f.name for f in cpb.ServiceSpec.DESCRIPTOR.fields} == _SERVICE_FIELDS
    assert {f.name for f in cnt.ContainerSpec.DESCRIPTOR.fields} == _CONTAINER_FIELDS
