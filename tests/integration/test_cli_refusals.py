"""Issue #16 on a real cluster (one, for the whole module): what can never run is refused with nothing
created, by the CLI and by the managers for API callers; unknown filters are errors; `self`,
`svc node ps` and versions."""

from __future__ import annotations

import json

import pytest
from helpers import poll
from test_cluster import build

pytestmark = pytest.mark.root


def test_refusals_filters_self_and_version(make_cluster) -> None:  # type: ignore[no-untyped-def]
    from svc.control import ControlClient
    from svc.errors import InvalidArgument
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import container_pb2 as pb
    from svc.v1 import control_pb2 as ctl

    c = build(make_cluster, managers=1, nodes=1)
    mgr = c.any_live_manager()

    # The CLI's early check: one line naming the problem, exit 1, nothing created.
    for flags, message in (
        (["--user", "a:b:c"], "invalid user 'a:b:c'"),
        (["--runtime", "nosuch"], "unknown runtime 'nosuch'"),
        (["-e", "BIG=" + "x" * (100 << 10)], "the limit is 64 KiB per KEY=VALUE"),  # exec's own limit: 128 KiB
        (["--name", ""], "invalid service name ''"),
    ):
        r = c.cli(None, "create", "-d", *flags, "busybox", "sleep", "1000")
        assert r.returncode == 1 and message in r.stderr and r.stderr.count("\n") == 1, (flags, r.stderr)
    assert c.ok("ls", "-q").strip() == ""

    # The managers refuse the same specs from an API caller that skips the CLI.
    api = ControlClient(mgr.api, c.admin_dir())
    for task, message in (
        (pb.ContainerSpec(image="busybox", user="a:b:c"), "invalid user"),
        (pb.ContainerSpec(image="busybox", runtime="nosuch"), "unknown runtime"),
        (pb.ContainerSpec(image="busybox", env=["BIG=" + "x" * (1 << 20)]), "the limit is 64 KiB"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            api.CreateService(ctl.CreateServiceRequest(spec=cpb.ServiceSpec(name="bad", replicas=1, task=task)))
    with pytest.raises(InvalidArgument, match="Invalid filter 'bogus'"):
        api.ListServices(ctl.ListServicesRequest(filters=["bogus=1"]))
    assert c.ok("ls", "-q").strip() == ""

    # svc update refuses too, and leaves the service as it was.
    c.ok("create", "-d", "--name", "web", "busybox", "sleep", "1000")
    r = c.cli(None, "update", "-d", "--env-add", "BIG=" + "x" * (100 << 10), "web")
    assert r.returncode == 1 and "the limit is 64 KiB" in r.stderr, r.stderr
    assert json.loads(c.ok("inspect", "web"))[0]["spec"]["task"].get("env", []) == []

    # Unknown filters: docker's wording, exit 1.
    for argv in (["ls"], ["ps", "web"], ["node", "ls"]):
        r = c.cli(None, *argv, "-f", "bogus=1")
        assert r.returncode == 1 and r.stderr.startswith("svc: Invalid filter 'bogus' (valid: "), (argv, r.stderr)

    # `self`: the node of the manager the CLI talks to.
    (me,) = [n for n in c.json_lines("node", "ls") if n.get("manager_status", {}).get("api_addr") == mgr.api]
    assert json.loads(c.ok("node", "inspect", "self"))[0]["id"] == me["id"]
    c.ok("node", "update", "--label-add", "zone=here", "self")
    assert json.loads(c.ok("node", "inspect", me["id"]))[0]["labels"] == {"zone": "here"}

    # `svc node ps`: the tasks on a node (default: self; the manager runs none here, the node runs web's).
    node_host = c.nodes()[0]
    poll(lambda: "web.1" in c.ok("node", "ps", f"node-{node_host.name}"), 30, what="web.1 on the node")
    assert "web.1" not in c.ok("node", "ps")

    out = c.ok("version")
    assert out.startswith("Client:\n Version: ") and "Server:\n Version: " in out
