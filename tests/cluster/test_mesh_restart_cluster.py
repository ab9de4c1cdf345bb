"""The routing mesh's way back, local first, across node daemon restarts: 1 manager and 1 node on
namespace hosts, FORWARD DROP.

`web` runs one task on host A, published `-p 8080:80` (httpd) and `-p 5353:5300/udp` (udpecho.c,
answering with a plain `sendto`); a request and a datagram to A are answered by it, seeing the
test process's own address, and the task's namespace holds its way back (the table marking what
came in over its ingress interface, the `ip rule` of that mark, the route in its table, and the
two rules of its UDP port).
`svcd node` is stopped (SIGTERM): the task runs on under conmon; its way back is deleted while the
daemon is down (as for a container made by a daemon that did not make it); the daemon started
again adopts the same container and makes it again, and a request and a datagram to A are
answered by the same task with the client's address. Then the daemon is killed (SIGKILL) and started: the way back is
still there and answers the same. After `svc rm` nothing of the mesh is left.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import udpecho
from helpers import poll
from meshcheck import get, in_ns, mesh_left, running

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(udpecho.compiler() is None, reason="no C compiler for the UDP service"),
]

PORT = 8080
WEB = (
    "mkdir -p /www/cgi-bin && printf '%s\\n' '#!/bin/sh' 'echo Content-Type: text/plain' 'echo'"
    " 'echo $(hostname) $REMOTE_ADDR' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip"
    " && (udpecho 5300 naive &) && exec httpd -f -p 80 -h /www"
)
UDP_PORT = 5353
MARK, TABLE = "0x5356", "21334"


def _ask(h: Any) -> tuple[str, str]:
    name, _, peer = get(f"http://{h.addr}:{PORT}/cgi-bin/ip").partition(" ")
    return name, peer.strip("[]").removeprefix("::ffff:")


def _in_task(pid: int, *cmd: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True, text=True, timeout=30).stdout


def _engine_up(c: Any, h: Any) -> bool:
    try:
        c.running_containers(h)
    except AssertionError:  # its socket does not answer yet
        return False
    return True


def _way_back(pid: int) -> list[str]:
    """What of the task's way back through the mesh its namespace holds."""
    have = []
    table = _in_task(pid, "nft", "list", "table", "ip", "svc_ingress")
    if "ct mark set 0x" in table and MARK[2:] in table:  # nft prints the mark padded: 0x00005356
        have.append("table")
    if f"fwmark {MARK} lookup {TABLE}" in _in_task(pid, "ip", "rule"):
        have.append("rule")
    if "default via" in _in_task(pid, "ip", "route", "show", "table", TABLE):
        have.append("route")
    udp_rules = [ln for ln in _in_task(pid, "ip", "rule").splitlines() if "ipproto udp sport 5300" in ln]
    if len(udp_rules) == 2:
        have.append("udp rules")
    return have


WAY_BACK = ["table", "rule", "route", "udp rules"]


def test_the_way_back_survives_or_is_remade_across_node_daemon_restarts(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(heartbeat=10.0, netns=True)  # a restart is over before the node counts as down
    c.start_manager(c.add_host())
    a = c.start_node(c.add_host())
    c.import_image(a, udpecho.build_image(str(tmp_path)), "udpecho")
    in_ns(a.netns, "iptables", "-w", "-P", "FORWARD", "DROP")  # as where dockerd runs
    client = c.net.gateway

    c.ok("create", "--name", "web", "-p", f"{PORT}:80", "-p", f"{UDP_PORT}:5300/udp", "udpecho", "sh", "-c", WEB)
    (ctr,) = poll(lambda: running(c, a, "web"), 60, what="web to run on host A")
    name, peer = poll(lambda: (got := _ask(a))[0] and got, 30, what="web through host A")
    assert peer == client, f"the task saw {peer}, not the client {client}"
    assert poll(lambda: udpecho.ask(a.addr, UDP_PORT)[0], 30, what="udpecho through host A") == name
    assert udpecho.ask(a.addr, UDP_PORT) == (name, client)
    pid = int(ctr["pid"])
    assert _way_back(pid) == WAY_BACK

    assert a.node is not None
    a.node.stop()
    assert not a.node.alive(), "svcd node did not stop on SIGTERM"
    _in_task(pid, "nft", "delete", "table", "ip", "svc_ingress")
    _in_task(pid, "ip", "rule", "del", "fwmark", MARK, "lookup", TABLE)
    _in_task(pid, "ip", "route", "flush", "table", TABLE)
    for prio in ("1001", "1002"):
        _in_task(pid, "ip", "rule", "del", "priority", prio)
    assert _way_back(pid) == []
    c.start_node(a)
    poll(lambda: _engine_up(c, a), 60, what="the node's engine to answer after SIGTERM")
    poll(lambda: _way_back(pid) == WAY_BACK, 30, what="the adopted task's way back to be made again")
    assert [x["id"] for x in running(c, a, "web")] == [ctr["id"]], "the task was replaced, not adopted"
    poll(lambda: _ask(a) == (name, client), 30, what="web through host A after the restart, seeing the client")
    assert udpecho.ask(a.addr, UDP_PORT) == (name, client)

    c.kill9(a, "node")
    c.start_node(a)
    poll(lambda: _engine_up(c, a), 60, what="the node's engine to answer after SIGKILL")
    assert _way_back(pid) == WAY_BACK
    assert [x["id"] for x in running(c, a, "web")] == [ctr["id"]], "the task was replaced, not adopted"
    poll(lambda: _ask(a) == (name, client), 30, what="web through host A after SIGKILL, seeing the client")
    for _ in range(4):
        assert _ask(a) == (name, client)
        assert udpecho.ask(a.addr, UDP_PORT) == (name, client)

    c.ok("rm", "web")
    poll(lambda: not mesh_left(a), 60, what="host A to remove the routing mesh")
    assert MARK not in in_ns(a.netns, "ip", "rule")
