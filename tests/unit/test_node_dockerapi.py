"""The node's Docker Engine API, pure parts: a create body into svc's spec (or a refusal by name), container
and image JSON, filters, exec bodies, pull references and auth; svc/dockerapi's protocol rules."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest

from node.dockerapi import containershapes, images
from node.dockerapi.containerin import create_request, empty
from node.dockerapi.execs import exec_request, failed_code
from svc import errors
from svc.dockerapi import proto
from svc.v1 import container_pb2 as pb

# What `docker run --rm -e A=1 -p 8080:80 --memory 64m busybox echo hi` sends (20.10), trimmed of nothing.
RUN_BODY = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": True,
    "AttachStderr": True,
    "ExposedPorts": {"80/tcp": {}},
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": ["A=1"],
    "Cmd": ["echo", "hi"],
    "Image": "busybox",
    "Volumes": {},
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {},
    "HostConfig": {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": True,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "ConsoleSize": [0, 0],
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 67108864,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "Devices": [],
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": None,
        "Ulimits": None,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {}},
}


def test_a_run_body_becomes_the_spec_and_auto_remove() -> None:
    req = create_request(RUN_BODY)
    assert req.auto_remove is True
    s = req.spec
    assert (s.image, list(s.cmd), list(s.env), s.network) == ("busybox", ["echo", "hi"], ["A=1"], "bridge")
    assert s.resources.memory_bytes == 64 << 20 and not s.entrypoint
    assert list(s.ports) == [pb.PortMapping(host_port=8080, container_port=80, protocol="tcp")]


def test_mapped_host_options() -> None:
    body = json.loads(json.dumps(RUN_BODY))
    body["HostConfig"].update(
        {
            "Binds": ["data:/data:ro"],
            "Init": True,
            "Sysctls": {"net.core.somaxconn": "1024"},
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "ExtraHosts": ["db:10.0.0.5"],
            "SecurityOpt": ["seccomp=unconfined"],
            "CapAdd": ["NET_ADMIN"],
            "NetworkMode": "host",
            "PidsLimit": -1,
        }
    )
    body["Healthcheck"] = {"Test": ["CMD", "true"], "Interval": 2_000_000_000, "Retries": 3}
    s = create_request(body).spec
    assert [(m.type, m.source, m.target, m.read_only) for m in s.mounts] == [("volume", "data", "/data", True)]
    assert s.init and dict(s.sysctls) == {"net.core.somaxconn": "1024"} and s.network == "host"
    assert list(s.ulimits) == [pb.Ulimit(name="nofile", soft=1024, hard=2048)]
    assert (
        list(s.extra_hosts) == ["10.0.0.5 db"] and s.seccomp.mode == "unconfined" and list(s.cap_add) == ["NET_ADMIN"]
    )
    assert s.resources.pids_limit == 0 and s.healthcheck.interval_seconds == 2.0 and s.healthcheck.retries == 3


@pytest.mark.parametrize(
    "change, message",
    [
        ({"Tty": True}, "a terminal or stdin"),
        ({"OpenStdin": True}, "a terminal or stdin"),
        ({"Volumes": {"/data": {}}}, "Volumes is not supported by svc"),
        ({"HostConfig": {"Privileged": True}}, "HostConfig.Privileged is not supported by svc"),
        ({"HostConfig": {"RestartPolicy": {"Name": "always"}}}, "restart policy 'always'"),
        ({"HostConfig": {"NetworkMode": "mynet"}}, "network 'mynet' is not supported"),
        ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": ""}]}}}, "a host port chosen by the daemon"),
        ({"HostConfig": {"LogConfig": {"Type": "syslog"}}}, "log driver 'syslog'"),
        ({"HostConfig": {"Dns": ["1.1.1.1"]}}, "HostConfig.Dns is not supported by svc"),
        ({"NetworkingConfig": {"EndpointsConfig": {"back": {}}}}, "EndpointsConfig"),
        ({"Healthcheck": {"Test": ["CMD", "x"], "StartInterval": 5}}, "Healthcheck.StartInterval"),
    ],
)
def test_what_svc_cannot_honour_is_a_501_naming_it(change, message) -> None:  # type: ignore[no-untyped-def]
    body = {"Image": "busybox", **{k: v for k, v in change.items() if k != "HostConfig"}}
    body["HostConfig"] = change.get("HostConfig", {})
    with pytest.raises(proto.Unsupported, match=message.replace("(", r"\(")):
        create_request(body)
    assert proto.http_status(proto.Unsupported("x")) == 501


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "must be a JSON object"),
        ({}, "Config.Image is required"),
        ({"Image": "busybox", "Cmd": "echo"}, "Cmd must be a list of strings"),
        ({"Image": "busybox", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory must be an integer"),
        ({"Image": "busybox", "HostConfig": {"ExtraHosts": ["nocolon"]}}, "HOST:IP expected"),
    ],
)
def test_bad_input_is_a_400(body, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.InvalidArgument, match=message):
        create_request(body)


def test_empty_is_what_the_cli_sends_for_nothing() -> None:
    assert all(empty(v) for v in (None, "", 0, False, [], {}, [0, 0], {"Type": "", "Config": {}}))
    assert not any(empty(v) for v in ("x", 1, True, ["a"], {"k": "v"}))


def _container(**kw):  # type: ignore[no-untyped-def]
    base = dict(
        id="a" * 64,
        name="web",
        image="busybox",
        image_id="sha256:" + "b" * 64,
        state="running",
        pid=42,
        created_at=1000.0,
        started_at=1000.0,
        finished_at=0.0,
        exit_code=0,
        oom_killed=False,
        ip="10.88.0.2",
        error="",
        command=["sleep", "100"],
        runtime="runc",
        network="bridge",
        health=SimpleNamespace(status="", failing_streak=0, log=()),
        spec=pb.ContainerSpec(
            image="busybox", labels={"app": "web"}, ports=[pb.PortMapping(host_port=8080, container_port=80)]
        ),
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_container_json_in_dockers_words() -> None:
    c = _container()
    row = containershapes.summary(c, now=1065.0)
    assert row["Names"] == ["/web"] and row["Status"] == "Up About a minute" and row["Command"] == "sleep 100"
    assert row["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]
    doc = containershapes.inspect(c, auto_remove=True)
    assert doc["Name"] == "/web" and doc["Path"] == "sleep" and doc["Args"] == ["100"]
    assert doc["State"]["Running"] and doc["Config"]["Tty"] is False and doc["HostConfig"]["AutoRemove"] is True
    assert doc["NetworkSettings"]["IPAddress"] == "10.88.0.2"
    done = _container(state="exited", exit_code=3, finished_at=1000.0)
    assert containershapes.status_text(done, 1000.0 + 7200) == "Exited (3) 2 hours ago"
    assert containershapes.status_text(_container(state="created"), 0) == "Created"


def test_container_filters() -> None:
    c = _container()
    assert containershapes.matches(c, {"label": ["app=web"], "name": ["we"], "status": ["running"]})
    assert not containershapes.matches(c, {"label": ["app=web", "tier"]})
    assert not containershapes.matches(c, {"name": ["^/x$"]})
    assert containershapes.matches(c, {"id": ["aaa", "zzz"]})
    with pytest.raises(proto.Unsupported, match="'ancestor'"):
        containershapes.check_filters({"ancestor": ["busybox"]})
    with pytest.raises(errors.InvalidArgument, match="invalid filter 'colour'"):
        containershapes.check_filters({"colour": ["red"]})
    with pytest.raises(errors.InvalidArgument, match="status=sleeping"):
        containershapes.check_filters({"status": ["sleeping"]})


def test_exec_bodies() -> None:
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": ["echo", "hi"], "Env": ["A=1"], "Tty": False}
    assert exec_request(body) == (["echo", "hi"], ["A=1"], True, True)
    for key, value, what in [
        ("Tty", True, "-t"),
        ("AttachStdin", True, "-i"),
        ("User", "nobody", "-u"),
        ("WorkingDir", "/tmp", "-w"),
        ("Privileged", True, "privileged"),
    ]:
        with pytest.raises(proto.Unsupported, match=what):
            exec_request({**body, key: value})
    with pytest.raises(errors.InvalidArgument, match="No exec command"):
        exec_request({"Cmd": []})
    assert failed_code('exec: "/nosuch": stat /nosuch: no such file or directory') == 127
    assert failed_code("permission denied") == 126


def test_images_helpers() -> None:
    rec = SimpleNamespace(
        id="sha256:" + "c" * 64,
        tags=("busybox:latest",),
        repo_digests=(),
        created=5.0,
        size=10,
        layers=("sha256:" + "d" * 64,),
    )
    assert images.summary(rec, {})["RepoTags"] == ["busybox:latest"]
    doc = images.details(rec, json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]}}).encode())
    assert doc["Config"] == {"Cmd": ["sh"]} and doc["RootFS"]["Layers"] == list(rec.layers) and doc["Os"] == "linux"
    assert images.matches(rec, {"reference": ["busy*"]}) and not images.matches(rec, {"dangling": ["true"]})
    assert images.pull_reference("127.0.0.1:5000/app", "1") == "127.0.0.1:5000/app:1"
    assert images.pull_reference("app", "sha256:" + "e" * 64) == "app@sha256:" + "e" * 64
    auth = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode().rstrip("=")
    assert images.registry_auth(auth) == ("u", "p") and images.registry_auth("e30=") is None
    token = base64.urlsafe_b64encode(json.dumps({"identitytoken": "rt"}).encode()).decode()
    assert images.registry_auth(token) == ("<token>", "rt")  # docker's identity token: the refresh grant's
    with pytest.raises(errors.InvalidArgument, match="X-Registry-Auth"):
        images.registry_auth("!!!")
    p = SimpleNamespace(id="abc", status="Downloading", current=1, total=2)
    assert json.loads(images.progress_line(p, "x:1")) == {
        "status": "Downloading",
        "id": "abc",
        "progressDetail": {"current": 1, "total": 2},
    }


def test_protocol_rules() -> None:
    proto.check_version("1.40")
    proto.check_version("")
    with pytest.raises(errors.InvalidArgument, match="too new"):
        proto.check_version("1.42")
    assert proto.frame(2, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"
    assert proto.filters('{"label": {"a=b": true}, "name": ["x"]}') == {"label": ["a=b"], "name": ["x"]}
    with pytest.raises(errors.InvalidArgument):
        proto.filters("[1]")
    assert proto.http_status(errors.NotFound("x")) == 404 and proto.http_status(errors.Conflict("x")) == 409
    assert proto.http_status(ValueError()) == 500
    assert [proto.human_duration(s) for s in (0.5, 1, 30, 90, 600, 3600, 7200, 86400 * 3)] == [
        "Less than a second",
        "1 second",
        "30 seconds",
        "About a minute",
        "10 minutes",
        "About an hour",
        "2 hours",
        "3 days",
    ]
    assert proto.rfc3339_nano(1.5) == "1970-01-01T00:00:01.500000000Z"
    assert proto.since_param("") is None and proto.since_param("12.5") == 12.5
    assert proto.ping_headers("inactive")["Swarm"] == "inactive"


def test_mutated_create_bodies_are_read_or_refused_never_another_error() -> None:
    """Bounded and seeded: every field of a real run body, and of its HostConfig, set to odd values."""
    import random

    rnd = random.Random(17)
    odd = [None, -1, 0, 1 << 70, -(1 << 70), 1e308, "x", "", [], [1], ["a"], {}, {"a": 1}, {"A": {"B": [None]}}, True]
    for _ in range(600):
        body = json.loads(json.dumps(RUN_BODY))
        target = body if rnd.random() < 0.4 else body["HostConfig"]
        for _ in range(rnd.randint(1, 3)):
            target[rnd.choice(sorted(target))] = rnd.choice(odd)
        try:
            create_request(body)
        except errors.SvcError:
            pass
    deep: object = {}
    for _ in range(5000):
        deep = {"A": deep}
    with pytest.raises(errors.SvcError):
        create_request({"Image": "busybox", "HostConfig": deep})


def test_info_in_dockers_words() -> None:
    from node.dockerapi.system import info_doc

    info = {
        "containers_running": 1,
        "containers": 3,
        "images": 2,
        "runtimes": ["runc"],
        "runtime": "runc",
        "cgroup_mode": "v2",
    }
    doc = info_doc(info, {}, "host-a", "/var/lib/svc/node")
    assert (doc["Containers"], doc["ContainersRunning"], doc["ContainersStopped"], doc["Images"]) == (3, 1, 2, 2)
    assert doc["Swarm"]["LocalNodeState"] == "inactive" and doc["CgroupVersion"] == "2" and doc["LiveRestoreEnabled"]
    joined = info_doc(info, {"LocalNodeState": "active", "NodeID": "n1"}, "host-a")
    assert joined["Swarm"]["NodeID"] == "n1" and joined["ID"] == "n1"
