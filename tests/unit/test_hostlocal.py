"""hostlocal.py: the node bridge's addresses in the CNI host-local plugin's own store.

Run against the real plugin too where it is installed: what one reserves the other sees and releases.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from ipaddress import IPv4Network

import pytest

from node.engine.hostlocal import HostLocal
from svc.errors import RuntimeFailure

PLUGIN = next((p for p in ("/usr/lib/cni/host-local", "/opt/cni/bin/host-local") if os.access(p, os.X_OK)), None)


def test_addresses_skip_the_gateway_and_go_round(tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = HostLocal(str(tmp_path), "net", IPv4Network("10.9.0.0/29"))  # .1 gateway, .2-.6 to hand out
    got = [str(h.reserve(f"c{i}", "eth0")) for i in range(3)]
    assert got == ["10.9.0.2/29", "10.9.0.3/29", "10.9.0.4/29"]
    h.release("c0", "eth0")
    # The next search starts after the last handed out: a released address is not reused at once.
    assert str(h.reserve("c3", "eth0").ip) == "10.9.0.5"
    assert str(h.reserve("c4", "eth0").ip) == "10.9.0.6"
    assert str(h.reserve("c5", "eth0").ip) == "10.9.0.2"
    with pytest.raises(RuntimeFailure, match=r"no address left in 10\.9\.0\.0/29"):
        h.reserve("c6", "eth0")
    assert not os.path.exists(tmp_path / "net" / "10.9.0.7")  # the broadcast is never one


def test_a_second_reserve_returns_what_is_held_and_release_is_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = HostLocal(str(tmp_path), "net", IPv4Network("10.9.0.0/24"))
    first = h.reserve("c", "eth0")
    assert h.reserve("c", "eth0") == first
    assert (tmp_path / "net" / str(first.ip)).read_bytes() == b"c\r\neth0"
    h.release("c", "eth0")
    h.release("c", "eth0")
    assert sorted(os.listdir(tmp_path / "net")) == ["last_reserved_ip.0", "lock"]


def test_a_new_process_reads_the_store_the_last_one_left(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "10.9.0.2").write_bytes(b"old")  # the plugin before 0.9: the id alone
    (tmp_path / "net" / "10.9.0.3").write_bytes(b"new\r\neth0")
    (tmp_path / "net" / "last_reserved_ip.0").write_text("10.9.0.3")
    h = HostLocal(str(tmp_path), "net", IPv4Network("10.9.0.0/24"))
    assert str(h.reserve("c", "eth0").ip) == "10.9.0.4"
    h.release("old", "eth0")
    h.release("new", "eth0")
    assert sorted(os.listdir(tmp_path / "net")) == ["10.9.0.4", "last_reserved_ip.0", "lock"]


def test_a_reservation_that_cannot_be_written_is_taken_back(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    h = HostLocal(str(tmp_path), "net", IPv4Network("10.9.0.0/24"))
    h.reserve("a", "eth0")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(RuntimeFailure, match="No space left on device"):
        h.reserve("b", "eth0")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path / "net")) == ["10.9.0.2", "last_reserved_ip.0", "lock"]
    assert str(h.reserve("b", "eth0").ip) == "10.9.0.3"


@pytest.mark.skipif(PLUGIN is None, reason="the CNI host-local plugin is not installed")
def test_conformance_with_the_real_plugin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def plugin(command: str, cid: str) -> dict[str, object]:
        conf = {
            "cniVersion": "1.0.0",
            "name": "net",
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.9.0.0/24"}]], "dataDir": str(tmp_path)},
        }
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": "/dev/null", "CNI_IFNAME": "eth0",
               "CNI_PATH": os.path.dirname(PLUGIN or "")}  # fmt: skip
        r = subprocess.run([PLUGIN or ""], input=json.dumps(conf), env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else {}

    by_plugin = plugin("ADD", "p1")["ips"][0]["address"]  # type: ignore[index]
    h = HostLocal(str(tmp_path), "net", IPv4Network("10.9.0.0/24"))
    ours = h.reserve("s1", "eth0")
    assert (by_plugin, str(ours)) == ("10.9.0.2/24", "10.9.0.3/24")
    assert plugin("ADD", "p2")["ips"][0]["address"] == "10.9.0.4/24"  # type: ignore[index]
    h.release("p1", "eth0")  # what the plugin reserved, released here
    plugin("DEL", "s1")  # and ours there
    assert sorted(os.listdir(tmp_path / "net")) == ["10.9.0.4", "last_reserved_ip.0", "lock"]
