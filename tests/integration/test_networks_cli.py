"""Overlay networks as cluster objects, through the CLI on a real cluster (issue #14 item 1):
create/ls/inspect/rm, a service's VIP and its tasks' addresses, the refusals (overlap, in use,
unknown network, encrypted), and allocation that survives a leader change (3 managers).
The data path on the nodes is tested in test_overlay_datapath.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import poll

pytestmark = pytest.mark.root


def _fails(c: Any, *args: str) -> str:
    r = c.cli(None, *args)
    assert r.returncode != 0, f"svc {' '.join(args)} should have failed: {r.stdout}"
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return str(r.stderr.strip())


def _task_addrs(c: Any, service: str) -> list[str]:
    out = []
    for t in c.json_lines("ps", service):
        if t.get("desired_state") == "running":
            out += [n["addr"] for n in t.get("networks", [])]
    return sorted(out)


def test_networks_vips_addresses_and_refusals(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m1 = c.start_manager(c.add_host())
    c.start_manager(c.add_host(), join=m1)
    c.start_manager(c.add_host(), join=m1)
    node = c.start_node(c.add_host())
    c.import_image(node, c.busybox)

    front = c.ok("network", "create", "front").strip()
    c.ok("network", "create", "--subnet", "10.30.0.0/24", "--label", "tier=back", "back")
    ls = c.ok("network", "ls")
    assert "front" in ls and "back" in ls and "10.0.0.0/24" in ls and "10.30.0.0/24" in ls
    by_label = c.ok("network", "ls", "-q", "-f", "label=tier=back").strip()
    assert by_label and by_label == c.ok("network", "ls", "-q", "-f", "name=back").strip()
    doc = json.loads(c.ok("network", "inspect", "front"))[0]
    assert doc["id"] == front and doc["vni"] == 4096 and doc["spec"]["gateway"] == "10.0.0.1"

    assert "overlaps network back" in _fails(c, "network", "create", "--subnet", "10.30.0.128/25", "clash")
    assert "encrypted overlay networks need IPsec ESP" in _fails(c, "network", "create", "-o", "encrypted=", "sec")
    assert "invalid subnet" in _fails(c, "network", "create", "--subnet", "10.1.2.3/24", "bad")
    assert "network nosuch not found" in _fails(c, "create", "--name", "x", "--network", "nosuch", "busybox", "true")
    assert "x" not in c.ok("ls")

    c.ok(
        "create", "--name", "web", "--replicas", "2", "--network", "front", "--network", "name=back,alias=www",
        "busybox", "sleep", "1000000",
    )
    svc = json.loads(c.ok("inspect", "web"))[0]
    vips = {v["network_id"]: v["addr"] for v in svc["virtual_ips"]}
    assert vips[front] == "10.0.0.2/24" and len(vips) == 2
    assert svc["spec"]["networks"][1]["aliases"] == ["www"]
    addrs = _task_addrs(c, "web")
    assert len(addrs) == 4 and len(set(addrs)) == 4 and "10.0.0.2/24" not in addrs

    assert "in use by service web" in _fails(c, "network", "rm", "front")

    # A new leader hands out the next free address, never one in use.
    old = c.leader()
    assert old is not None
    c.kill9(old, "manager")
    poll(lambda: (lead := c.leader()) is not None and lead is not old, 60, what="a new leader")
    assert c.cli(None, "scale", "web=3", timeout=180).returncode == 0
    after = _task_addrs(c, "web")
    assert len(after) == 6 and len(set(after)) == 6 and set(addrs) <= set(after)

    c.ok("update", "--network-rm", "back", "web")
    svc = json.loads(c.ok("inspect", "web"))[0]
    assert [v["network_id"] for v in svc["virtual_ips"]] == [front]
    c.ok("rm", "web")
    for name in ("front", "back"):  # once the tasks have shut down and given their addresses back
        poll(lambda n=name: c.cli(None, "network", "rm", n).returncode == 0, 120, what=f"network {name} to be free")
    assert c.ok("network", "ls", "-q").strip() == ""
