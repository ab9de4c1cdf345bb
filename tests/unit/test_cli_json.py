"""The CLI's JSON (jsonview): integers as numbers, RFC 3339 times, every field with defaults; `--pretty`."""

from __future__ import annotations

from svc.cli import inspectview, jsonview
from svc.cli.gotemplate import Template
from svc.v1 import cluster_pb2 as cpb


def service() -> cpb.Service:
    s = cpb.Service(id="abc123", version=3101, created_at=1796134189.123456, running=5, desired=5)
    s.spec.name, s.spec.replicas = "web", 5
    s.spec.labels["tier"] = "front"
    s.spec.task.image = "busybox:latest"
    s.spec.task.cmd.extend(["sleep", "1000"])
    s.spec.task.env.append("A=1")
    s.spec.task.resources.memory_bytes = 64 << 20
    s.spec.placement.constraints.append("node.role==worker")
    s.spec.task.ports.add(host_port=8080, container_port=80, protocol="tcp")
    return s


def test_integers_and_times() -> None:
    d = jsonview.doc(service())
    assert d["version"] == 3101 and d["running"] == 5 and d["spec"]["replicas"] == 5
    assert d["spec"]["task"]["resources"]["memory_bytes"] == 64 << 20
    assert d["created_at"] == "2026-12-01T14:09:49.123456Z"
    assert "updated_at" not in d  # unset fields only with defaults
    assert d["spec"]["labels"] == {"tier": "front"}
    assert d["spec"]["task"]["ports"] == [{"host_port": 8080, "container_port": 80, "protocol": "tcp"}]


def test_defaults_for_inspect() -> None:
    d = jsonview.doc(service(), defaults=True)
    assert d["updated_at"] == jsonview.ZERO_TIME and d["warnings"] == [] and d["spec"]["mode"] == ""
    assert "previous_spec" not in d  # an unset message stays out
    n = jsonview.doc(cpb.Node(id="n1", created_at=1.5), defaults=True)
    assert n["created_at"] == "1970-01-01T00:00:01.5Z" and n["labels"] == {} and n["version"] == 0


def test_rfc3339() -> None:
    assert jsonview.rfc3339(0) == "0001-01-01T00:00:00Z"
    assert jsonview.rfc3339(1796134189.0) == "2026-12-01T14:09:49Z"
    assert jsonview.rfc3339(1796134189.5) == "2026-12-01T14:09:49.5Z"


def test_templates_see_docker_names() -> None:
    d = jsonview.doc(service(), defaults=True)
    assert Template("{{.Spec.Name}} {{.Spec.Replicas}} {{.Version}} {{.CreatedAt}}").execute(d) == (
        "web 5 3101 2026-12-01T14:09:49.123456Z"
    )
    assert Template("{{json .Spec.Labels}}").execute(d) == '{"tier":"front"}'


def test_pretty() -> None:
    text = inspectview.pretty_service(service())
    for line in (
        "ID:\t\tabc123",
        "Name:\t\tweb",
        " tier=front",
        "Service Mode:\tReplicated",
        " Replicas:\t5",
        " Constraints:\t[node.role==worker]",
        "UpdateConfig:",
        " Image:\t\tbusybox:latest",
        " Args:\t\tsleep 1000",
        " Env:\t\tA=1",
        "  Memory:\t64MiB",
        "Endpoint Mode:\tvip",
        " PublishedPort = 8080",
        "  TargetPort = 80",
    ):
        assert line in text.splitlines(), (line, text)
    g = cpb.Service(id="g")
    g.spec.name, g.spec.mode = "g", "global"
    assert "Service Mode:\tGlobal" in inspectview.pretty_service(g)


def test_pretty_and_format_exclude_each_other() -> None:
    import argparse

    import pytest

    from svc.errors import InvalidArgument

    args = argparse.Namespace(format="{{.ID}}", pretty=True)
    with pytest.raises(InvalidArgument, match="incompatible"):
        inspectview.show(args, ["web"], lambda ref: service())
    args = argparse.Namespace(format="{{.Bogus}}", pretty=False)
    with pytest.raises(InvalidArgument, match="can't evaluate field Bogus"):
        inspectview.show(args, ["web"], lambda ref: service())
