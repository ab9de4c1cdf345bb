"""Engine features beyond the lifecycle: health checks, ports, isolation, capabilities, bad input."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import urllib.request

import pytest
from helpers import free_port, mounts_under, netns_list, poll

from svc import ports
from svc.errors import InvalidArgument, NotFound
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root


def test_health_check_turns_unhealthy_when_probe_fails(engine) -> None:  # type: ignore[no-untyped-def]
    spec = pb.ContainerSpec(
        image="busybox",
        cmd=["sh", "-c", "touch /tmp/ok; sleep 1000"],
        healthcheck=pb.HealthConfig(test=["CMD-SHELL", "test -f /tmp/ok"], interval_seconds=0.2, retries=2),
    )
    c = engine.run(spec)
    assert engine.get(c.id).health.status == "starting"
    poll(lambda: engine.get(c.id).health.status == "healthy", 20, what="healthy")
    engine.exec(c.id, ["rm", "/tmp/ok"])
    h = poll(lambda: (x := engine.get(c.id).health).status == "unhealthy" and x, 20, what="unhealthy")
    assert h.failing_streak >= 2
    assert h.log and h.log[-1].exit_code != 0


def test_health_check_from_image_config(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from imagebuild import ImageSpec, busybox_entries, write_docker_save

    hc = {"Test": ["CMD", "true"], "Interval": 200_000_000, "Retries": 1}
    path = write_docker_save(
        str(tmp_path / "hc.tar"), ImageSpec(layers=[busybox_entries()], config={"Healthcheck": hc}, tag="hc:1")
    )
    engine.import_image(path)
    c = engine.run(pb.ContainerSpec(image="hc:1", cmd=["sleep", "1000"]))
    poll(lambda: engine.get(c.id).health.status == "healthy", 20, what="healthy from the image's check")


def test_published_port_answers_http_from_the_host(engine) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    c = engine.run(
        pb.ContainerSpec(
            image="busybox",
            cmd=["httpd", "-f", "-p", "80", "-h", "/www"],
            ports=[pb.PortMapping(host_port=port, container_port=80)],
        )
    )
    assert c.ip

    def fetch() -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
            return r.read()

    assert poll(fetch, 20, what="httpd through the published port") == b"hello from svc\n"


def test_network_none_has_only_loopback(engine) -> None:  # type: ignore[no-untyped-def]
    c = engine.run(pb.ContainerSpec(image="busybox", network="none", cmd=["sh", "-c", "ls /sys/class/net"]))
    engine.wait(c.id, timeout=30)
    assert b"".join(e.data for e in engine.logs(c.id)).split() == [b"lo"]


def test_network_host_shares_the_host_namespace(engine) -> None:  # type: ignore[no-untyped-def]
    c = engine.run(pb.ContainerSpec(image="busybox", network="host", cmd=["sh", "-c", "ls /sys/class/net"]))
    engine.wait(c.id, timeout=30)
    names = b"".join(e.data for e in engine.logs(c.id)).split()
    assert set(names) == {n.encode() for n in os.listdir("/sys/class/net")}


def test_dropped_capability_cannot_be_used(engine) -> None:  # type: ignore[no-untyped-def]
    # The default set has no CAP_SYS_TIME: setting the clock must fail (and never touches the host's).
    c = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    # (busybox date reports the failure on stderr but exits 0)
    _, _, err = engine.exec(c.id, ["date", "-s", "2001-01-01 00:00:00"])
    assert b"can't set date: Operation not permitted" in err
    assert time.time() > 1.7e9
    code, out, _ = engine.exec(c.id, ["cat", "/proc/timer_list"])
    assert code == 0 and out == b""  # masked
    code, _, err = engine.exec(c.id, ["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"])
    assert code != 0 and b"Read-only file system" in err
    # --cap-drop removes one of the defaults: chown must fail
    d = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"], cap_drop=["CHOWN"]))
    code, _, err = engine.exec(d.id, ["chown", "65534", "/tmp"])
    assert code != 0 and b"not permitted" in err


def test_cap_add_grants_a_capability(engine) -> None:  # type: ignore[no-untyped-def]
    c = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"], cap_add=["SYS_TIME"]))
    code, out, _ = engine.exec(c.id, ["grep", "CapEff", "/proc/self/status"])
    assert code == 0
    assert int(out.split()[1], 16) & (1 << 25)  # CAP_SYS_TIME is bit 25


def test_read_only_root_and_user(engine) -> None:  # type: ignore[no-untyped-def]
    c = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"], read_only=True, user="nobody"))
    code, out, _ = engine.exec(c.id, ["id", "-u"])
    assert out.strip() == b"65534"
    code, _, err = engine.exec(c.id, ["touch", "/newfile"])
    assert code != 0 and b"Read-only file system" in err


def test_bad_input_leaves_nothing(engine, engine_env) -> None:  # type: ignore[no-untyped-def]
    before_ns = set(netns_list())
    before = {c.id for c in engine.containers(all=True)}
    cases = [
        (pb.ContainerSpec(image="nosuchimage"), NotFound, "no such image"),
        (pb.ContainerSpec(image="busybox", network="overlay9"), InvalidArgument, "unknown network"),
        (pb.ContainerSpec(image="busybox", resources=pb.Resources(memory_bytes=1024)), InvalidArgument, "memory"),
        (pb.ContainerSpec(image="busybox", runtime="kata"), InvalidArgument, "unknown runtime"),
        (
            pb.ContainerSpec(image="busybox", ports=[pb.PortMapping(host_port=8080, container_port=0)]),
            InvalidArgument,
            "container port",
        ),
        (pb.ContainerSpec(image="busybox", cap_add=["FLY"]), InvalidArgument, "capability"),
    ]
    for spec, exc, text in cases:
        with pytest.raises(exc, match=text):
            engine.create(spec)
    # A start that fails late (no such command) is undone completely.
    with pytest.raises(Exception, match="nosuchcommand"):
        engine.run(pb.ContainerSpec(image="busybox", cmd=["/nosuchcommand"]))
    assert {c.id for c in engine.containers(all=True)} == before
    assert set(netns_list()) == before_ns
    assert not mounts_under(engine_env.base)


def _portmap_rules(cid: str) -> list[str]:
    r = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True, check=True)
    return [line for line in r.stdout.splitlines() if cid in line]


def test_published_port_rules_go_with_the_container_when_the_mesh_was_switched(  # type: ignore[no-untyped-def]
    engine_env, busybox_tar
) -> None:
    """A node without the routing mesh publishes a service's ingress port where its task runs (portmap);
    restarted with the mesh on, removing that task still removes those rules (they are not the mesh's)."""
    from node.engine.engine import Engine

    before = set(netns_list())
    port = free_port()
    spec = pb.ContainerSpec(
        image="busybox",
        cmd=["sleep", "1000"],
        ports=[pb.PortMapping(host_port=port, container_port=80, publish_mode=ports.INGRESS)],
    )
    eng = Engine(dataclasses.replace(engine_env.config(), routing_mesh=False))
    try:
        eng.import_image(busybox_tar, "busybox")
        c = eng.run(spec)
        assert _portmap_rules(c.id), "the port is published on this host"
    finally:
        eng.close()
    eng = Engine(engine_env.config())  # the mesh on (the default)
    try:
        eng.remove(c.id, force=True)
        assert _portmap_rules(c.id) == []
    finally:
        for left in eng.containers(all=True):
            eng.remove(left.id, force=True)
        eng.close()
    assert not (set(netns_list()) - before) and not engine_env.leftovers()
