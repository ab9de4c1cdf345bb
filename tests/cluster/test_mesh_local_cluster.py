"""The routing mesh, local first (issue #14 item 5, beyond Swarm): 1 manager and 3 nodes on
namespace hosts.

`web` runs one task on host A and one on host B (global, kept off host C), published `-p 8080:80`;
a CGI script answers with the task's hostname and the peer address httpd saw (REMOTE_ADDR). A
request to A is always answered by A's task, and to B by B's, each seeing the client's own address
(the test process, on the hosts' bridge): no SNAT, and the reply found its way back through the
mesh; from A itself too. A request to C (no task) is answered by either, which sees C's sandbox
address on the ingress network, as in Swarm. After `svc rm` no host keeps the mesh, an overlay namespace or an
`ip rule` of the mesh's mark, and none warned about its networks while the tasks stopped (the ingress
set without a sandbox address is transitional). Every node host has Docker's FORWARD policy DROP.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from helpers import poll
from meshcheck import get, get_from, in_ns, mesh_left, running

pytestmark = pytest.mark.cluster

PORT = 8080
WEB = (
    "mkdir -p /www/cgi-bin && printf '%s\\n' '#!/bin/sh' 'echo Content-Type: text/plain' 'echo'"
    " 'echo $(hostname) $REMOTE_ADDR' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www"
)


def _ask(h: Any, via: Any = None, addr: str = "") -> tuple[str, str]:
    """(the answering task's hostname, the client address it saw) through host `h`'s port, asked by
    the test process or from inside host `via`, to `addr` (default: `h`'s own address)."""
    url = f"http://{addr or h.addr}:{PORT}/cgi-bin/ip"
    body = get_from(via, url) if via is not None else get(url)
    name, _, peer = body.partition(" ")
    return name, peer.strip("[]").removeprefix("::ffff:")  # httpd's socket is IPv6: [::ffff:10.0.0.1]


def test_a_host_with_a_task_serves_it_locally_with_the_client_s_address(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    c.start_manager(c.add_host())
    a, b, h3 = (c.start_node(c.add_host(), wait=False) for _ in range(3))
    c.wait_ready()
    for h in (a, b, h3):
        c.import_image(h, c.busybox)
        in_ns(h.netns, "iptables", "-w", "-P", "FORWARD", "DROP")  # as where dockerd runs
    client = c.net.gateway  # the test process's address on the hosts' bridge

    c.ok(
        "create", "--name", "web", "--mode", "global", "-p", f"{PORT}:80",
        "--constraint", f"node.hostname!=node-{h3.name}", "busybox", "sh", "-c", WEB,
    )  # fmt: skip
    for h in (a, b):
        poll(lambda h=h: running(c, h, "web"), 60, what=f"web to run on host {h.name}")
    assert not running(c, h3, "web")

    names = {}
    for h in (a, b):
        name, peer = poll(lambda h=h: (got := _ask(h))[0] and got, 30, what=f"web through host {h.name}")
        names[h.name] = name
        assert peer == client, f"host {h.name}'s task saw {peer}, not the client {client}"
    assert names[a.name] != names[b.name]
    for _ in range(4):  # bounded: every request to a host with a task stays on it
        for h in (a, b):
            assert _ask(h) == (names[h.name], client), f"host {h.name}"

    # From host A itself: its own address (the host's output chain) and its loopback (masqueraded to
    # the host's end of the veth), answered by A's task too.
    assert _ask(a, via=a) == (names[a.name], a.addr)
    assert _ask(a, via=a, addr="127.0.0.1") == (names[a.name], "169.254.88.1")

    # Through C, which runs no task: either task answers, and sees C's sandbox address.
    seen = set()
    for _ in range(6):
        name, peer = poll(lambda: (got := _ask(h3))[0] and got, 30, what="web through host C")
        assert name in names.values()
        assert ipaddress.ip_address(peer) in ipaddress.ip_network("10.255.0.0/16"), peer
        seen.add(peer)
    assert len(seen) == 1, f"one sandbox address for C: {seen}"

    c.ok("rm", "web")
    for h in (a, b, h3):
        poll(lambda h=h: not mesh_left(h), 60, what=f"host {h.name} to remove the routing mesh")
        assert "0x5356" not in in_ns(h.netns, "ip", "rule"), f"host {h.name} has the mesh's ip rule"
        assert h.node is not None
        # while the tasks stopped, the ingress set without a sandbox address was no error
        assert "overlay networks:" not in h.node.log(), f"host {h.name} warned about its networks"
    assert _ask(a) == ("", "")
