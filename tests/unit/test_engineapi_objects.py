"""The Engine API's second slice without a cluster: log frames and options, networks', secrets' and
configs' JSON both ways (a secret's value never shown, what svc cannot do refused by name), update
policies round-tripping, Docker's filters joined (labels AND'ed), and the app's /swarm refusals and
network removal over a fake control API."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from manager.engineapi import logs, objshapes, updateconfig
from manager.engineapi.base import joined
from manager.engineapi.server import EngineAPI
from manager.engineapi.swarm import changed_autolock
from svc import errors
from svc.dockerapi import proto
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import control_pb2 as ctl


def test_log_lines_are_stdcopy_frames_with_the_task_context() -> None:
    assert proto.frame(proto.STDERR, b"hi\n") == b"\x02\x00\x00\x00" + struct.pack(">L", 3) + b"hi\n"
    msg = ctl.ServiceLogMessage(task_id="t1", node_id="n1", time=1.25, stream="stdout", data=b"out\n")
    assert logs.line(msg, "s1", details=False, timestamps=False) == b"out\n"
    ctx = b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 "
    assert logs.line(msg, "s1", details=True, timestamps=False) == ctx + b"out\n"
    assert logs.line(msg, "s1", details=True, timestamps=True) == b"1970-01-01T00:00:01.250000000Z " + ctx + b"out\n"


def test_log_options() -> None:
    both = {"stdout": "1", "stderr": "1"}
    assert logs.options({**both, "tail": "all"}, 100.0) == (0, None, {"stdout", "stderr"})
    assert logs.options({**both, "tail": "5", "since": "50.5"}, 100.0) == (5, 50.5, {"stdout", "stderr"})
    assert logs.options({**both, "tail": "-1"}, 100.0)[0] == 0
    assert logs.options({"stdout": "1", "tail": "0"}, 100.0) == (1, 100.0, {"stdout"})  # only what comes next
    for bad, why in (({}, "at least one stream"), ({**both, "tail": "x"}, "invalid tail"),
                     ({**both, "since": "yesterday"}, "invalid since")):  # fmt: skip
        with pytest.raises(errors.InvalidArgument, match=why):
            logs.options(bad, 100.0)


def test_networks_both_ways() -> None:
    # what `docker network create -d overlay --subnet ... --label a=b net1` sends
    doc = {"Name": "net1", "CheckDuplicate": True, "Driver": "overlay", "Scope": "", "EnableIPv6": False,
           "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.1.0.0/24"}]}, "Internal": False,
           "Attachable": False, "Ingress": False, "ConfigOnly": False, "ConfigFrom": None, "Options": {},
           "Labels": {"a": "b"}}  # fmt: skip
    spec = objshapes.network_spec(doc)
    assert spec == cpb.NetworkSpec(name="net1", driver="overlay", subnet="10.1.0.0/24", labels={"a": "b"})
    shown = objshapes.network(cpb.Network(id="n1", spec=spec, vni=4097))
    assert shown["Scope"] == "swarm" and shown["IPAM"]["Config"] == [{"Subnet": "10.1.0.0/24"}]
    assert shown["Options"] == {objshapes.VXLAN_ID_OPTION: "4097"} and shown["Labels"] == {"a": "b"}
    for change, why in (
        ({"EnableIPv6": True}, r"^network.EnableIPv6 is not supported by svc$"),
        ({"Scope": "local"}, "swarm-scoped"),
        ({"Ingress": True}, r"^network.Ingress is not supported by svc$"),
        ({"IPAM": {"Driver": "dhcp"}}, "allocates itself"),
        ({"IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24"}]}}, "one subnet"),
        ({"IPAM": {"Config": [{"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.0/25"}]}}, r"IPRange is not supported"),
    ):
        with pytest.raises(errors.InvalidArgument, match=why):
            objshapes.network_spec({**doc, **change})


def test_secrets_and_configs_both_ways() -> None:
    s = cpb.Secret(id="s1", version=3, spec=cpb.SecretSpec(name="pw", labels={"k": "v"}, data=b"conf"))
    assert "Data" not in objshapes.secret(s, "secret")["Spec"]  # never a secret's value
    assert objshapes.secret(s, "config")["Spec"]["Data"] == base64.b64encode(b"conf").decode()
    data = base64.b64encode(b"value").decode()
    spec, given = objshapes.secret_spec({"Name": "pw", "Labels": {"k": "v"}, "Data": data, "Driver": None}, "secret")
    assert given and spec == cpb.SecretSpec(name="pw", labels={"k": "v"}, data=b"value")
    assert objshapes.secret_spec({"Name": "pw"}, "config")[1] is False
    with pytest.raises(errors.InvalidArgument, match=r"^secret.Templating is not supported by svc$"):
        objshapes.secret_spec({"Name": "pw", "Templating": {"Name": "golang"}}, "secret")
    with pytest.raises(errors.InvalidArgument, match=r"^secret.Driver is not supported by svc$"):
        objshapes.secret_spec({"Name": "pw", "Driver": {"Name": "vault"}}, "secret")
    with pytest.raises(errors.InvalidArgument, match="not base64"):
        objshapes.secret_spec({"Name": "pw", "Data": "%%%"}, "secret")


def test_update_policies_round_trip_and_defaults_stay_unset() -> None:
    for config in (cpb.UpdateConfig(), cpb.UpdateConfig(parallelism=0, delay_seconds=2, order="start-first"),
                   cpb.UpdateConfig(monitor_seconds=0, max_failure_ratio=0.25, failure_action="rollback")):  # fmt: skip
        back = cpb.UpdateConfig()
        updateconfig.from_docker(json.loads(json.dumps(updateconfig.to_docker(config))), "UpdateConfig", back)
        assert back == config
    with pytest.raises(errors.InvalidArgument, match="non-negative"):
        updateconfig.from_docker({"Delay": -1}, "UpdateConfig", cpb.UpdateConfig())
    st = updateconfig.status(cpb.UpdateStatus(state="paused", started_at=1, message="task failed"))
    assert st == {"State": "paused", "StartedAt": "1970-01-01T00:00:01.000000Z", "Message": "task failed"}


def test_filters_are_joined_with_labels_required_together() -> None:
    objs = {"a": {"l1": "x", "l2": "y"}, "b": {"l1": "x"}, "c": {"l2": "y"}}
    calls: list[list[str]] = []

    async def fetch(items: list[str]) -> list[Any]:
        calls.append(items)
        out = []
        for oid, labels in objs.items():
            want = [i.split("=", 1)[1] for i in items if i.startswith("label=")]
            names = [i.split("=", 1)[1] for i in items if i.startswith("name=")]
            if all(w.partition("=")[0] in labels for w in want) and (not names or oid in names):
                out.append(type("O", (), {"id": oid})())
        return out

    got = asyncio.run(joined({"label": ["l1=x", "l2=y"]}, fetch))
    assert [o.id for o in got] == ["a"]
    got = asyncio.run(joined({"name": ["b", "c"]}, fetch))
    assert sorted(o.id for o in got) == ["b", "c"]


def test_a_swarm_update_changes_autolock_only() -> None:
    ours = {"Name": "default", "Dispatcher": {"HeartbeatPeriod": 5}, "EncryptionConfig": {"AutoLockManagers": False}}
    # what the docker CLI sends back: what it read, its zero values, and the flag it was given
    sent = {**ours, "Labels": None, "Raft": {"ElectionTick": 0}, "CAConfig": {"ExternalCAs": None}}
    assert changed_autolock(ours, sent) is None
    assert changed_autolock(ours, {**sent, "EncryptionConfig": {"AutoLockManagers": True}}) is True
    with pytest.raises(errors.InvalidArgument, match=r"Spec.Dispatcher.HeartbeatPeriod .*--heartbeat-period"):
        changed_autolock(ours, {**sent, "Dispatcher": {"HeartbeatPeriod": 6}})
    with pytest.raises(errors.InvalidArgument, match=r"^Spec.Raft.ElectionTick cannot be changed here"):
        changed_autolock(ours, {**sent, "Raft": {"ElectionTick": 3}})


class _FakeControl:
    def __init__(self) -> None:
        self.removes = 0

    async def ClusterInfo(self, request: Any, context: Any) -> Any:
        return ctl.ClusterInfoResponse(cluster_id="c1")

    async def RemoveNetwork(self, request: Any, context: Any) -> Any:
        self.removes += 1
        if request.network == "busy":
            raise errors.Conflict("network busy is in use by service web")
        if self.removes < 3:
            raise errors.Conflict("network n1 is still in use by 2 tasks shutting down")
        return ctl.Ack()

    async def GetNetwork(self, request: Any, context: Any) -> Any:
        services = ["web"] if request.network == "busy" else []
        return cpb.Network(id=request.network, spec=cpb.NetworkSpec(name=request.network), services=services)


def test_the_app_refuses_swarm_changes_and_waits_for_a_network_to_be_free() -> None:
    async def run() -> None:
        control = _FakeControl()
        m = type("M", (), {"node_id": "n1", "api_addr": "1.2.3.4:4242", "hostname": "h", "cluster": None})()
        api = EngineAPI(m, control)  # type: ignore[arg-type]
        async with TestClient(TestServer(api.app())) as client:
            r = await client.post("/v1.41/swarm/init", json={})
            assert r.status == 400 and "svcd manager --init" in (await r.json())["message"]
            for verb, words in (("join", "svcd node --join"), ("leave", "svc node rm"), ("unlock", "svc cluster")):
                r = await client.post(f"/v1.41/swarm/{verb}", json={})
                assert r.status == 501 and words in (await r.json())["message"], verb
            r = await client.delete("/v1.41/networks/busy")
            assert r.status == 409 and "in use by service web" in (await r.json())["message"]
            control.removes = 0
            r = await client.delete("/v1.41/networks/n1")
            assert r.status == 204 and control.removes == 3  # waited for the tasks, then removed
        async with TestClient(TestServer(api.app(admins_only=True))) as client:  # TCP's: no admin certificate here
            r = await client.get("/_ping")
            assert r.status == 403 and "svc cluster client-bundle" in (await r.json())["message"]

    asyncio.run(run())
