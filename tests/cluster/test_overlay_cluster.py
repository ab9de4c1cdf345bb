"""Overlay networks end to end (issue #14): 1 manager and 2 nodes on namespace hosts.

`svc network create` and `svc create --network` on the manager; the nodes get the tasks'
attachments and the network's peer set with their assignments, and wire the data path. A task
of `web` on one host reaches the task of `api` on the other by its overlay address; when `api`
is removed its entries leave the other host; when nothing uses the network any more, each
node removes its namespace.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from helpers import poll, run_cli

pytestmark = pytest.mark.cluster


def _running_on(c: Any, h: Any, service: str) -> dict[str, Any] | None:
    for ctr in c.running_containers(h):
        if ctr.get("labels", {}).get("svc.service.name") == service and ctr.get("state") == "running":
            return ctr
    return None


def _addr(c: Any, service: str) -> str:
    for t in c.json_lines("ps", service):
        if t.get("desired_state") == "running" and t.get("networks"):
            return str(t["networks"][0]["addr"]).split("/")[0]
    return ""


def _exec(h: Any, cid: str, *cmd: str) -> Any:
    return run_cli("container", "exec", cid, *cmd, env={"SVC_RUN_DIR": h.run_dir}, timeout=60)


def test_a_task_reaches_another_service_s_task_on_another_host(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    c.start_manager(c.add_host())
    a, b = c.start_node(c.add_host(), wait=False), c.start_node(c.add_host(), wait=False)
    c.wait_ready()
    for h in (a, b):
        c.import_image(h, c.busybox)

    c.ok("network", "create", "--subnet", "10.31.0.0/24", "backend")
    # api first: when web starts, its node knows api's name (a name it does not know would be
    # forwarded to the host's resolvers, off this machine).
    for name, host, cmd in (
        ("api", b, ["sh", "-c", "echo api > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]),
        ("web", a, ["sleep", "1000000"]),
    ):
        c.ok(
            "create", "--name", name, "--network", "backend", "--constraint", f"node.hostname==node-{host.name}",
            "busybox", *cmd,
        )  # fmt: skip
        poll(lambda n=name, h=host: _running_on(c, h, n), 60, what=f"{name} to run on host {host.name}")
    web = _running_on(c, a, "web")
    assert web is not None
    api_ip = poll(lambda: _addr(c, "api"), 30, what="api's overlay address")
    web_ip = _addr(c, "web")
    assert api_ip.startswith("10.31.0.") and web_ip.startswith("10.31.0.")

    r = poll(lambda: (p := _exec(a, web["id"], "ping", "-c", "1", "-W", "1", api_ip)).returncode == 0 and p, 30,
             what=f"web ({web_ip}) on A to reach api ({api_ip}) on B")  # fmt: skip
    assert "1 packets received" in r.stdout

    # By name, from the embedded DNS server: the VIP balances to api's task; tasks.api is the task.
    r = _exec(a, web["id"], "wget", "-q", "-O-", "http://api:8080/")
    assert r.returncode == 0 and r.stdout.strip() == "api", r
    r = _exec(a, web["id"], "ping", "-c", "1", "-W", "2", "tasks.api")
    assert r.returncode == 0 and api_ip in r.stdout, r
    vip = json.loads(c.ok("inspect", "api"))[0]["virtual_ips"][0]["addr"].split("/")[0]
    r = _exec(a, web["id"], "nslookup", "api.backend")
    assert r.returncode == 0 and vip in r.stdout, r

    vni = 4096
    ovns_a = os.path.join(a.run_dir, "engine", "netns", f"ov-{vni}")
    ovns_b = os.path.join(b.run_dir, "engine", "netns", f"ov-{vni}")
    assert os.path.exists(ovns_a) and os.path.exists(ovns_b)

    def fdb_a() -> str:
        import subprocess

        return subprocess.run(
            ["nsenter", f"--net={ovns_a}", "bridge", "fdb", "show", "dev", "vxlan0"], capture_output=True, text=True
        ).stdout

    api_mac = "02:42:" + ":".join(f"{int(x):02x}" for x in api_ip.split("."))
    assert f"{api_mac} dst {b.addr}" in fdb_a()

    c.ok("rm", "api")
    # (the bridge's own learned entry for the MAC, "master br0", ages out by itself; the VXLAN's goes now)
    poll(lambda: f"{api_mac} dst" not in fdb_a(), 30, what="api's forwarding entry to leave host A")
    poll(lambda: not os.path.exists(ovns_b), 30, what="host B to remove the network it no longer uses")
    c.ok("rm", "web")
    poll(lambda: not os.path.exists(ovns_a), 30, what="host A to remove the network")
    poll(lambda: c.cli(None, "network", "rm", "backend").returncode == 0, 60, what="the network to be free")
