"""init, sysctls, ulimits and extra hosts (pure): the rules (svc/kernelopts.py), the CLI flags, the compose
keys (svc/stack/taskopts.py), and what the engine makes of them (the OCI config, /etc/hosts)."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

import pytest

from node.engine import hostfiles, initbin, ocispec
from svc import containerspec, kernelopts
from svc.cli import kernelflags
from svc.errors import InvalidArgument
from svc.stack import convert, loader
from svc.v1 import container_pb2 as pb


def test_sysctls_only_namespaced_ones() -> None:
    for name in ("net.ipv4.ip_forward", "net.core.somaxconn", "kernel.shmmax", "fs.mqueue.msg_max", "kernel.sem"):
        kernelopts.check_sysctl(name, "1", "bridge")
    with pytest.raises(InvalidArgument, match=r"sysctl kernel\.pid_max is not allowed"):
        kernelopts.check_sysctl("kernel.pid_max", "1", "bridge")
    with pytest.raises(InvalidArgument, match=r"sysctl vm\.swappiness is not allowed"):
        kernelopts.check_sysctl("vm.swappiness", "1", "bridge")
    with pytest.raises(InvalidArgument, match="host networking"):
        kernelopts.check_sysctl("net.ipv4.ip_forward", "1", "host")
    with pytest.raises(InvalidArgument, match="invalid sysctl"):
        kernelopts.parse_sysctl("net.ipv4.ip_forward")


def test_ulimits() -> None:
    assert kernelopts.parse_ulimit("nofile=1024:2048") == ("nofile", 1024, 2048)
    assert kernelopts.parse_ulimit("nproc=100") == ("nproc", 100, 100)
    assert kernelopts.parse_ulimit("core=-1") == ("core", -1, -1)
    assert kernelopts.compose_ulimit("nofile", {"soft": 10, "hard": 20}) == ("nofile", 10, 20)
    for bad, message in (
        ("nofile=2048:1024", "the soft limit 2048 is above the hard limit 1024"),
        ("files=1", "unknown ulimit 'files'"),
        ("nofile", "use NAME=SOFT[:HARD]"),
        ("nofile=x", "whole numbers"),
    ):
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            kernelopts.parse_ulimit(bad)


def test_extra_hosts() -> None:
    assert kernelopts.host_line("db:10.0.0.5") == "10.0.0.5 db"
    assert kernelopts.host_line("db=10.0.0.5") == "10.0.0.5 db"
    assert kernelopts.host_line("v6:::1") == "::1 v6"
    assert kernelopts.host_line("10.0.0.5 db") == "10.0.0.5 db"
    for bad, message in (("db", "use HOST:IP"), ("db:nope", "not an IP address"), ("d_b:1.2.3.4", "not a host")):
        with pytest.raises(InvalidArgument, match=message):
            kernelopts.host_line(bad)
    with pytest.raises(InvalidArgument, match="host-gateway is not supported"):
        kernelopts.host_line("gw:host-gateway")


def test_the_spec_rules_are_containerspecs() -> None:
    spec = pb.ContainerSpec(image="busybox", sysctls={"kernel.pid_max": "9"})
    with pytest.raises(InvalidArgument, match=r"kernel\.pid_max"):
        containerspec.validate(spec)
    spec = pb.ContainerSpec(image="busybox", extra_hosts=["db:1.2.3.4"])
    with pytest.raises(InvalidArgument, match="invalid extra host"):
        containerspec.validate(spec)
    spec = pb.ContainerSpec(image="busybox", ulimits=[pb.Ulimit(name="nofile", soft=1, hard=1)] * 2)
    with pytest.raises(InvalidArgument, match="given twice"):
        containerspec.validate(spec)


def test_cli_flags() -> None:
    p = argparse.ArgumentParser()
    kernelflags.add_flags(p)
    args = p.parse_args(
        ["--init", "--sysctl", "net.core.somaxconn=1024", "--ulimit", "nofile=100:200", "--add-host", "db:10.1.2.3"]
    )
    spec = pb.ContainerSpec(image="busybox")
    kernelflags.apply(args, spec)
    assert spec.init and dict(spec.sysctls) == {"net.core.somaxconn": "1024"}
    assert [(u.name, u.soft, u.hard) for u in spec.ulimits] == [("nofile", 100, 200)]
    assert list(spec.extra_hosts) == ["10.1.2.3 db"]
    with pytest.raises(InvalidArgument, match="host networking"):
        kernelflags.apply(p.parse_args(["--sysctl", "net.core.somaxconn=1"]), pb.ContainerSpec(network="host"))


def _service(tmp: Any, body: str) -> Any:
    path = os.path.join(str(tmp), "c.yml")
    with open(path, "w") as f:
        f.write("services:\n  web:\n    image: busybox\n" + body)
    doc = loader.load([path], {}, lambda _: None)
    return convert.convert(doc, "app", str(tmp), {}).services[0].task


def test_compose_keys(tmp_path: Any) -> None:
    task = _service(
        tmp_path,
        "    init: true\n    tmpfs: [/run, '/cache:size=1m,mode=700']\n"
        "    sysctls: {net.core.somaxconn: 1024, kernel.shmmax: '65536'}\n"
        "    ulimits: {nproc: 500, nofile: {soft: 1000, hard: 2000}}\n"
        "    extra_hosts: ['db:10.0.0.5', 'cache=10.0.0.6']\n",
    )
    assert task.init
    assert [(m.type, m.target, m.tmpfs_size_bytes, m.tmpfs_mode) for m in task.mounts] == [
        ("tmpfs", "/run", 0, 0),
        ("tmpfs", "/cache", 1 << 20, 0o700),
    ]
    assert dict(task.sysctls) == {"net.core.somaxconn": "1024", "kernel.shmmax": "65536"}
    assert [(u.name, u.soft, u.hard) for u in task.ulimits] == [("nofile", 1000, 2000), ("nproc", 500, 500)]
    assert list(task.extra_hosts) == ["10.0.0.5 db", "10.0.0.6 cache"]
    task = _service(tmp_path, "    tmpfs: /run\n    sysctls: [net.ipv4.ip_forward=1]\n    extra_hosts: {db: 1.2.3.4}\n")
    assert [m.target for m in task.mounts] == ["/run"] and dict(task.sysctls) == {"net.ipv4.ip_forward": "1"}
    assert list(task.extra_hosts) == ["1.2.3.4 db"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    sysctls: {vm.swappiness: 1}\n", "services.web.sysctls: sysctl vm.swappiness is not allowed"),
        ("    ulimits: {nofile: {soft: 9, hard: 1}}\n", "services.web.ulimits: ulimit nofile: the soft limit 9"),
        ("    ulimits: {fds: 1}\n", "services.web.ulimits: unknown ulimit 'fds'"),
        ("    extra_hosts: [db]\n", "services.web.extra_hosts.0: invalid extra host 'db'"),
        ("    tmpfs: [relative]\n", "services.web.tmpfs.0:"),
        ("    tmpfs: ['/x:ro']\n", "services.web.tmpfs.0: 'ro' is not supported"),
        ("    init: maybe\n", "services.web.init must be boolean"),
    ],
)
def test_compose_keys_refused_with_their_path(tmp_path: Any, body: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        _service(tmp_path, body)


def _bundle(**kw: Any) -> ocispec.Bundle:
    return ocispec.Bundle(
        args=["sh", "-c", "x"],
        env=[],
        cwd="/",
        uid=0,
        gid=0,
        additional_gids=[],
        hostname="h",
        rootfs="/r",
        read_only=False,
        capabilities=[],
        cgroups_path="/svc/x",
        netns_path="/run/netns/x",
        nofile=1024,
        **kw,
    )


def test_oci_config() -> None:
    cfg = ocispec.build_config(_bundle())
    assert cfg["process"]["args"] == ["sh", "-c", "x"] and "sysctl" not in cfg["linux"]
    assert cfg["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    cfg = ocispec.build_config(
        _bundle(
            init_path="/usr/bin/tini-static",
            sysctls={"net.core.somaxconn": "1024"},
            ulimits=[("nofile", 10, 20), ("core", -1, -1)],
        )
    )
    assert cfg["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "x"]
    assert cfg["mounts"][-1] == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/bin/tini-static",
        "options": ["rbind", "ro"],
    }
    assert cfg["linux"]["sysctl"] == {"net.core.somaxconn": "1024"}
    assert cfg["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]
    process = ocispec.exec_process(["sh"], [], "/", 0, 0, [], cfg["process"]["rlimits"])
    assert process["rlimits"] == cfg["process"]["rlimits"]  # an exec has the container's, as Docker's
    assert "rlimits" not in ocispec.exec_process(["sh"], [], "/", 0, 0, [])


def test_init_binary(tmp_path: Any) -> None:
    tini = tmp_path / "tini"
    tini.write_text("")
    tini.chmod(0o755)
    assert initbin.find((str(tmp_path / "none"), str(tini))) == str(tini)
    with pytest.raises(InvalidArgument, match="apt-get install tini"):
        initbin.find((str(tmp_path / "none"),))


def test_extra_hosts_in_etc_hosts(tmp_path: Any) -> None:
    hostfiles.write_etc_files(str(tmp_path), "h", "10.0.0.2", "bridge", extra_hosts=["10.0.0.5 db", "::1 v6"])
    lines = (tmp_path / "hosts").read_text().splitlines()
    assert lines[2:] == ["10.0.0.2\th", "10.0.0.5\tdb", "::1\tv6"]


def test_update_flags() -> None:
    p = argparse.ArgumentParser()
    kernelflags.add_update_flags(p)
    spec = pb.ContainerSpec(
        image="busybox",
        sysctls={"net.core.somaxconn": "1", "kernel.shmmax": "2"},
        ulimits=[pb.Ulimit(name="nofile", soft=1, hard=2), pb.Ulimit(name="nproc", soft=3, hard=3)],
        extra_hosts=["10.0.0.1 a", "10.0.0.2 b", "10.0.0.3 b"],
    )
    args = p.parse_args(
        ["--init", "--sysctl-rm", "kernel.shmmax", "--sysctl-add", "net.core.somaxconn=9", "--ulimit-rm", "nproc",
         "--ulimit-add", "nofile=5:6", "--host-rm", "b:10.0.0.2", "--host-add", "c:10.0.0.4"]
    )  # fmt: skip
    kernelflags.update(args, spec)
    assert spec.init and dict(spec.sysctls) == {"net.core.somaxconn": "9"}
    assert [(u.name, u.soft, u.hard) for u in spec.ulimits] == [("nofile", 5, 6)]
    assert list(spec.extra_hosts) == ["10.0.0.1 a", "10.0.0.3 b", "10.0.0.4 c"]
    kernelflags.update(p.parse_args(["--no-init", "--host-rm", "b"]), spec)
    assert not spec.init and list(spec.extra_hosts) == ["10.0.0.1 a", "10.0.0.4 c"]
    before = pb.ContainerSpec()
    before.CopyFrom(spec)
    kernelflags.update(p.parse_args([]), spec)
    assert spec == before  # no flag changes nothing
    with pytest.raises(InvalidArgument, match="not allowed"):
        kernelflags.update(p.parse_args(["--sysctl-add", "vm.swappiness=1"]), spec)
