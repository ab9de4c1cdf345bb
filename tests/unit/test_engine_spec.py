"""Docker's precedence rules for what a container runs, and the OCI config we build from them."""

from __future__ import annotations

import pytest

from node.engine import ocispec
from node.engine.imageconfig import ImageConfig, ImageHealthcheck, parse_image_config
from node.engine.spec import resolve
from svc.containerspec import DEFAULT_CAPS, capabilities, validate
from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

IMAGE = ImageConfig(
    env=("PATH=/bin", "A=image"),
    entrypoint=("/entry",),
    cmd=("default",),
    workdir="/app",
    user="app",
    stop_signal="SIGQUIT",
)


def test_cmd_replaces_image_cmd_but_keeps_entrypoint() -> None:
    r = resolve(pb.ContainerSpec(image="x", cmd=["mine"]), IMAGE, "a" * 64)
    assert r.args == ("/entry", "mine")


def test_entrypoint_override_drops_image_cmd() -> None:
    r = resolve(pb.ContainerSpec(image="x", entrypoint=["/other"]), IMAGE, "a" * 64)
    assert r.args == ("/other",)


def test_env_merges_by_key_and_image_defaults_apply() -> None:
    r = resolve(pb.ContainerSpec(image="x", env=["A=mine", "B=2"]), IMAGE, "a" * 64)
    assert r.env == ("PATH=/bin", "A=mine", "B=2")
    assert (r.cwd, r.user, r.stop_signal, r.hostname) == ("/app", "app", 3, "a" * 12)


def test_no_command_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        resolve(pb.ContainerSpec(image="x"), ImageConfig(), "a" * 64)


def test_healthcheck_forms() -> None:
    img = ImageConfig(cmd=("sh",), healthcheck=ImageHealthcheck(test=("CMD-SHELL", "true"), interval=5))
    r = resolve(pb.ContainerSpec(image="x"), img, "a" * 64)
    assert r.healthcheck and r.healthcheck.argv == ("/bin/sh", "-c", "true") and r.healthcheck.interval == 5
    assert r.healthcheck.retries == 3
    r = resolve(pb.ContainerSpec(image="x", no_healthcheck=True), img, "a" * 64)
    assert r.healthcheck is None
    r = resolve(pb.ContainerSpec(image="x", healthcheck=pb.HealthConfig(test=["NONE"])), img, "a" * 64)
    assert r.healthcheck is None
    with pytest.raises(InvalidArgument, match="must start with"):
        resolve(pb.ContainerSpec(image="x", healthcheck=pb.HealthConfig(test=["BOGUS"])), img, "a" * 64)


def test_capability_rules() -> None:
    assert capabilities([], []) == DEFAULT_CAPS
    assert "CAP_SYS_TIME" in capabilities(["sys_time"], [])
    assert "CAP_CHOWN" not in capabilities([], ["CHOWN"])
    assert capabilities(["NET_ADMIN"], ["ALL"]) == ("CAP_NET_ADMIN",)
    with pytest.raises(InvalidArgument, match="unknown capability"):
        capabilities(["WARP"], [])


@pytest.mark.parametrize(
    "spec, message",
    [
        (pb.ContainerSpec(network="mesh"), "unknown network"),
        (
            pb.ContainerSpec(network="none", ports=[pb.PortMapping(host_port=1, container_port=1)]),
            "cannot be published",
        ),
        (pb.ContainerSpec(ports=[pb.PortMapping(host_port=1, container_port=1, protocol="sctp")]), "protocol"),
        (pb.ContainerSpec(hostname="-bad"), "invalid hostname"),
        (pb.ContainerSpec(workdir="relative"), "absolute"),
        (pb.ContainerSpec(stop_signal="SIGNOPE"), "invalid signal"),
        (pb.ContainerSpec(resources=pb.Resources(memory_bytes=100)), "too low"),
    ],
)
def test_validation(spec: pb.ContainerSpec, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(spec)


def test_image_config_parsing() -> None:
    raw = (
        b'{"config": {"Env": ["A=1"], "Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2000000000}},'
        b' "rootfs": {"diff_ids": []}, "architecture": "arm64", "created": "2024-01-01T00:00:00Z"}'
    )
    cfg = parse_image_config(raw)
    assert cfg.env == ("A=1",) and cfg.healthcheck and cfg.healthcheck.interval == 2.0
    assert cfg.architecture == "arm64" and cfg.created == 1704067200.0
    with pytest.raises(InvalidArgument):
        parse_image_config(b"[1]")
    with pytest.raises(InvalidArgument, match="bad diff id"):
        parse_image_config(b'{"rootfs": {"diff_ids": ["md5:1"]}}')


def test_oci_config_has_docker_defaults() -> None:
    b = ocispec.Bundle(
        args=["sh"],
        env=["A=1"],
        cwd="/",
        uid=0,
        gid=0,
        additional_gids=[],
        hostname="h",
        rootfs="/r",
        read_only=True,
        capabilities=list(DEFAULT_CAPS),
        cgroups_path="/svc/x",
        netns_path="/run/netns/x",
        memory_bytes=64 << 20,
        nano_cpus=500_000_000,
        pids_limit=10,
    )
    cfg = ocispec.build_config(b)
    assert cfg["process"]["noNewPrivileges"] is True
    assert cfg["root"] == {"path": "/r", "readonly": True}
    ns = {n["type"]: n.get("path") for n in cfg["linux"]["namespaces"]}
    assert ns == {"pid": None, "ipc": None, "uts": None, "mount": None, "network": "/run/netns/x"}
    res = cfg["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20} and res["cpu"] == {"quota": 50000, "period": 100000}
    assert res["pids"] == {"limit": 10}
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"] and "/proc/sys" in cfg["linux"]["readonlyPaths"]
    b.netns_path = None
    assert "network" not in {n["type"] for n in ocispec.build_config(b)["linux"]["namespaces"]}
