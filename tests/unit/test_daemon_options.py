"""svcd's options, defined once: flags over SVC_* over the file over the table's defaults."""

from __future__ import annotations

import os

import pytest

from svc import defaults
from svc.errors import InvalidArgument
from svcd import options


def _settings(argv: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None) -> dict[str, object]:
    for k in [k for k in os.environ if k.startswith("SVC_")]:
        monkeypatch.delenv(k)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    return options.settings(options.parser().parse_args(argv))


def test_defaults_come_from_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = _settings(["manager", "--config", str(_empty(tmp_path))], monkeypatch)
    assert s["raft_port"] == defaults.MANAGER_RAFT_PORT
    assert s["listen_addr"] == f"0.0.0.0:{defaults.MANAGER_GRPC_PORT}"
    up = _settings(["up", "--config", str(_empty(tmp_path))], monkeypatch)
    assert up["listen_addr"] == f"127.0.0.1:{defaults.MANAGER_GRPC_PORT}"  # a one-host cluster stays local
    assert up["node_metrics_addr"].endswith(f":{defaults.NODE_METRICS_PORT}")


def test_flag_beats_environment_beats_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text('data_dir = "/from/file"\n[node]\nbridge = "filebr"\nsubnet = "10.9.0.0/24"\n')
    s = _settings(["node", "--config", str(cfg), "--bridge", "flagbr"], monkeypatch, {"SVC_SUBNET": "10.8.0.0/24"})
    assert (s["bridge"], s["subnet"], s["data_dir"]) == ("flagbr", "10.8.0.0/24", "/from/file")


def test_numbers_from_the_environment_are_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = _settings(["manager", "--config", str(_empty(tmp_path))], monkeypatch, {"SVC_RAFT_PORT": "5000"})
    assert s["raft_port"] == 5000
    with pytest.raises(InvalidArgument, match="raft_port: 'x' is not a valid int"):
        _settings(["manager", "--config", str(_empty(tmp_path))], monkeypatch, {"SVC_RAFT_PORT": "x"})


def test_every_role_has_every_common_option() -> None:
    for role, (_, opts) in options.ROLES.items():
        names = [o.name for o in (*options.COMMON, *opts)]
        assert len(names) == len(set(names)), f"{role}: an option is defined twice"


def _empty(tmp_path):  # type: ignore[no-untyped-def]
    p = tmp_path / "empty.toml"
    p.write_text("")
    return p
