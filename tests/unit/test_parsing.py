"""How people type sizes, durations, signals, ports, image names and config."""

from __future__ import annotations

import pytest

from svc import config, reference
from svc.errors import InvalidArgument
from svc.ports import parse_publish
from svc.units import parse_cpus, parse_duration, parse_signal, parse_size


def test_sizes() -> None:
    assert parse_size("64m") == 64 << 20
    assert parse_size("1g") == 1 << 30
    assert parse_size("1.5k") == 1536
    assert parse_size("100") == 100
    for bad in ("", "lots", "-1m", "0"):
        with pytest.raises(InvalidArgument):
            parse_size(bad)


def test_cpus_durations_signals() -> None:
    assert parse_cpus("0.5") == 500_000_000
    with pytest.raises(InvalidArgument):
        parse_cpus("0")
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2") == 2
    with pytest.raises(InvalidArgument):
        parse_duration("soon")
    assert parse_signal("SIGTERM") == 15 and parse_signal("kill") == 9 and parse_signal("10") == 10
    with pytest.raises(InvalidArgument):
        parse_signal("SIGWHAT")


def test_ports() -> None:
    p = parse_publish("127.0.0.1:8080:80/udp")
    assert (p.host_ip, p.host_port, p.container_port, p.protocol) == ("127.0.0.1", 8080, 80, "udp")
    for bad in ("80", "a:80", "8080:80/sctp", "1.2.3:8080:80", "0:80"):
        with pytest.raises(InvalidArgument):
            parse_publish(bad)


def test_references() -> None:
    assert reference.normalize("busybox") == "busybox:latest"
    assert reference.normalize("localhost:5000/team/app:v2") == "localhost:5000/team/app:v2"
    assert reference.normalize("docker.io/library/alpine:3") == "alpine:3"
    for bad in ("UPPER", "a b", "x:", ":tag", ""):
        with pytest.raises(InvalidArgument):
            reference.normalize(bad)
    assert reference.looks_like_id("sha256:abcd") and not reference.looks_like_id("busy")


def test_config_precedence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text('data_dir = "/file"\nlog_level = "debug"\n[node]\nbridge = "br-file"\n')
    fallbacks = {"data_dir": "/default", "log_level": "info", "bridge": "svc0", "subnet": "10.0.0.0/8", "labels": []}
    got = config.resolve(
        {"data_dir": "/flag"},
        fallbacks,
        "node",
        str(path),
        environ={"SVC_LOG_LEVEL": "warning", "SVC_LABELS": "a=1,b=2"},
    )
    assert got == {
        "data_dir": "/flag",
        "log_level": "warning",
        "bridge": "br-file",
        "subnet": "10.0.0.0/8",
        "labels": ["a=1", "b=2"],
    }
    path.write_text("nonsense = 1\n")
    with pytest.raises(InvalidArgument, match="unknown setting"):
        config.resolve({}, fallbacks, "node", str(path), environ={})
    with pytest.raises(InvalidArgument, match="does not exist"):
        config.resolve({}, fallbacks, "node", str(tmp_path / "missing.toml"), environ={})
