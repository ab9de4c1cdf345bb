"""--env-file, `-p 80` (the managers pick the published port), --publish-add/--publish-rm, --force's
effect on the wait; all without a cluster."""

from __future__ import annotations

import pytest

from manager import portalloc
from svc.cli import waitplan
from svc.cli.main import parser
from svc.cli.service import update_ports
from svc.cli.specflags import env_file, spec_from_args
from svc.errors import InvalidArgument
from svc.ports import parse_publish
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb


def test_env_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "env"
    f.write_text("# comment\n\nA=1\n  B= two words \nC=\nFROM_ENV\nUNSET\nD=x=y\n")
    monkeypatch.setenv("FROM_ENV", "here")
    monkeypatch.delenv("UNSET", raising=False)
    assert env_file(str(f)) == ["A=1", "B= two words ", "C=", "FROM_ENV=here", "D=x=y"]
    f.write_text("BAD KEY=1\n")
    with pytest.raises(InvalidArgument, match=r":1: invalid variable name 'BAD KEY'"):
        env_file(str(f))
    with pytest.raises(InvalidArgument, match="no such file"):
        env_file(str(tmp_path / "missing"))
    # On create, the file's variables come first and -e after them (a later one wins in the container).
    f.write_text("A=1\n")
    args = parser().parse_args(["create", "--env-file", str(f), "-e", "A=2", "-p", "80", "busybox"])
    spec = spec_from_args(args, "busybox", [])
    assert list(spec.env) == ["A=1", "A=2"]
    assert [(p.host_port, p.container_port) for p in spec.ports] == [(0, 80)]  # the cluster picks


def test_a_container_still_needs_its_host_port() -> None:
    with pytest.raises(InvalidArgument, match="publish needs HOST_PORT:CONTAINER_PORT"):
        parse_publish("80")
    assert parse_publish("80/udp", pick=True) == pb.PortMapping(container_port=80, protocol="udp")


def service(*ports: tuple[int, int]) -> cpb.ServiceSpec:
    s = cpb.ServiceSpec(name="s")
    for host, target in ports:
        s.task.ports.add(host_port=host, container_port=target, protocol="tcp")
    return s


def test_the_managers_pick_the_lowest_free_published_port() -> None:
    others = [service((30000, 80)), service((30002, 80), (8080, 81))]
    spec = service((0, 80), (0, 443), (30001, 22))
    portalloc.assign(spec, others)
    assert [p.host_port for p in spec.task.ports] == [30003, 30004, 30001]
    # An update keeps the port it had for the same target port.
    again = service((0, 80))
    portalloc.assign(again, others, current=spec)
    assert again.task.ports[0].host_port == 30003
    full = [service(*[(n, 80) for n in range(30000, 32768)])]
    with pytest.raises(InvalidArgument, match="no free published port left in 30000-32767/tcp"):
        portalloc.assign(service((0, 80)), full)


def test_publish_add_and_rm() -> None:
    task = service((8080, 80), (9090, 90)).task
    update_ports(task, ["8081:80", "53:53/udp"], ["90"])
    assert [(p.host_port, p.container_port, p.protocol) for p in task.ports] == [(8081, 80, "tcp"), (53, 53, "udp")]
    update_ports(task, [], ["53/udp"])
    assert len(task.ports) == 1
    with pytest.raises(InvalidArgument, match="use the target port"):
        update_ports(task, [], ["web"])


def test_force_replaces_tasks_and_the_wait_wants_new_ones() -> None:
    old = service((8080, 80))
    new = cpb.ServiceSpec()
    new.CopyFrom(old)
    new.replicas = 5
    assert not waitplan.replaces_tasks(old, new)
    new.force_update += 1
    assert waitplan.replaces_tasks(old, new)
    svc = cpb.Service(running=1, desired=1)
    old_task = cpb.Task(id="a", desired_state="running", created_at=10.0)
    old_task.status.state = "running"
    assert waitplan.converged(svc, [old_task])
    assert not waitplan.converged(svc, [old_task], fresh_since=20.0)
    new_task = cpb.Task(id="b", desired_state="running", created_at=21.0)
    assert waitplan.converged(svc, [new_task], fresh_since=20.0)


def test_update_flags_parse() -> None:
    args = parser().parse_args(["service", "update", "--force", "--publish-add", "80", "--publish-rm", "81", "web"])
    assert args.force and args.publish_add == ["80"] and args.publish_rm == ["81"]
