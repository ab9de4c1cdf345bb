"""The data dir's role record and lock: what a daemon is comes from its record, one daemon per dir."""

from __future__ import annotations

import json
import os

import pytest

from svc.errors import InvalidArgument, Unavailable
from svcd.datadir import DataDir, Role, check_role


@pytest.mark.parametrize(
    ("command", "recorded", "ok"),
    [
        ("up", None, True),
        ("up", Role.UP, True),
        ("up", Role.MANAGER, False),
        ("up", Role.NODE, False),
        ("manager", Role.MANAGER, True),
        ("manager", Role.UP, False),
        ("manager", Role.PROMOTED, False),
        ("node", Role.NODE, True),
        ("node", Role.PROMOTED, True),
        ("node", Role.UP, False),
        ("node", Role.MANAGER, False),
    ],
)
def test_each_command_runs_only_as_its_roles(command: str, recorded: Role | None, ok: bool) -> None:
    if ok:
        check_role(command, recorded, "/d")
    else:
        with pytest.raises(InvalidArgument, match=f"/d is the data dir of {recorded.description}"):  # type: ignore[union-attr]
            check_role(command, recorded, "/d")


def test_the_record_round_trips_and_a_damaged_one_is_one_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = DataDir(str(tmp_path))
    assert d.role() is None
    d.set_role(Role.PROMOTED)
    assert d.role() is Role.PROMOTED
    assert json.loads((tmp_path / "role.json").read_text())["role"] == "promoted"
    assert os.stat(tmp_path / "role.json").st_mode & 0o077 == 0
    (tmp_path / "role.json").write_text("{not json")
    with pytest.raises(Unavailable, match=r"role\.json is unreadable or damaged"):
        d.role()
    (tmp_path / "role.json").write_text('{"role": "emperor"}')
    with pytest.raises(Unavailable, match="damaged"):
        d.role()


def test_a_second_daemon_on_the_same_dir_is_refused_with_the_holders_pid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = DataDir(str(tmp_path / "data")), DataDir(str(tmp_path / "data"))
    first.lock()
    try:
        with pytest.raises(Unavailable, match=rf"is in use by another svcd \(pid {os.getpid()}\)"):
            second.lock()
    finally:
        first.unlock()
    second.lock()  # released: free again
    second.unlock()


def test_data_dirs_from_before_the_record_get_the_role_their_command_implies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = DataDir(str(tmp_path))
    assert d.legacy_role("up") is None and d.legacy_role("node") is None
    (tmp_path / "node" / "tls").mkdir(parents=True)
    (tmp_path / "node" / "tls" / "cert.pem").write_text("x")
    assert d.legacy_role("node") is Role.NODE
    (tmp_path / "manager").mkdir()
    (tmp_path / "manager" / "state.json").write_text("{}")
    assert d.legacy_role("node") is Role.PROMOTED
    assert d.legacy_role("up") is Role.UP
    assert d.legacy_role("manager") is Role.MANAGER
