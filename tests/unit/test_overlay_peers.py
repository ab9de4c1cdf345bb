"""The overlay data path's pure parts: MAC derivation, the wanted entries, the reconcile diff."""

from __future__ import annotations

import pytest

from node.engine.overlaypeers import Change, Entries, Fdb, Neigh, check_vni, diff, mac_of, wanted
from svc.errors import InvalidArgument


def test_mac_is_docker_s() -> None:
    assert mac_of("10.0.1.5/24") == "02:42:0a:00:01:05"
    assert mac_of("192.168.255.1") == "02:42:c0:a8:ff:01"


@pytest.mark.parametrize("bad", ["", "10.0.1", "fd00::1/64", "nonsense"])
def test_mac_refuses_what_is_not_ipv4(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        mac_of(bad)


def test_vni_range() -> None:
    assert check_vni(4096) == 4096
    for bad in (0, 1 << 24):
        with pytest.raises(InvalidArgument):
            check_vni(bad)


def test_wanted_is_every_remote_endpoint() -> None:
    eps = [
        ("10.0.1.2/24", "02:42:0a:00:01:02", "192.0.2.1"),  # this node's (by VTEP)
        ("10.0.1.3/24", "", "192.0.2.2"),  # remote, MAC derived
        ("10.0.1.4/24", "02:42:0A:00:01:04", "192.0.2.3"),  # remote, MAC upper case
        ("10.0.1.5/24", "", "192.0.2.9"),  # a container here (by address), whatever the VTEP says
        ("10.0.1.6/24", "", ""),  # no VTEP: unreachable, skipped
    ]
    got = wanted(eps, "192.0.2.1", ["10.0.1.5"])
    assert got.fdb == {Fdb("02:42:0a:00:01:03", "192.0.2.2"), Fdb("02:42:0a:00:01:04", "192.0.2.3")}
    assert got.neigh == {Neigh("10.0.1.3", "02:42:0a:00:01:03"), Neigh("10.0.1.4", "02:42:0a:00:01:04")}


def test_wanted_without_a_known_vtep_uses_local_addresses() -> None:
    got = wanted([("10.0.1.2/24", "", "192.0.2.1"), ("10.0.1.3/24", "", "192.0.2.2")], "", ["10.0.1.2"])
    assert got.fdb == {Fdb("02:42:0a:00:01:03", "192.0.2.2")}


def test_diff_adds_missing_and_removes_stale() -> None:
    a, b, c = (Fdb(f"02:42:0a:00:01:0{i}", f"192.0.2.{i}") for i in (1, 2, 3))
    na, nb, nc = (Neigh(f"10.0.1.{i}", f"02:42:0a:00:01:0{i}") for i in (1, 2, 3))
    change = diff(Entries(frozenset({a, b}), frozenset({na, nb})), Entries(frozenset({b, c}), frozenset({nb, nc})))
    assert change == Change(add_fdb=(c,), del_fdb=(a,), add_neigh=(nc,), del_neigh=(na,))
    assert diff(Entries(frozenset({a}), frozenset({na})), Entries(frozenset({a}), frozenset({na}))).empty


def test_diff_moves_an_address_reused_on_another_node() -> None:
    """A lost 'remove' cannot leave the old VTEP: the whole set is compared."""
    old = Fdb("02:42:0a:00:01:07", "192.0.2.2")
    new = Fdb("02:42:0a:00:01:07", "192.0.2.3")
    change = diff(Entries(frozenset({old})), Entries(frozenset({new})))
    assert change.del_fdb == (old,) and change.add_fdb == (new,)


def test_everything_goes_when_nothing_is_wanted() -> None:
    cur = wanted([("10.0.1.3/24", "", "192.0.2.2")], "192.0.2.1", [])
    change = diff(cur, Entries())
    assert not change.add_fdb and not change.add_neigh
    assert len(change.del_fdb) == 1 and len(change.del_neigh) == 1
