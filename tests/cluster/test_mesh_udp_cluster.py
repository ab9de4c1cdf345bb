"""The routing mesh, local first, over UDP: 1 manager and 2 nodes on namespace hosts, each with
Docker's FORWARD policy DROP.

`dns` runs one task on host A, published `-p 5353:53/udp`; it answers each datagram with its
hostname and the sender's address (`udpecho.c`, answering from the address asked, as DNS servers
do). A datagram to A is answered by A's task, which saw the test process's own address (no SNAT;
the answer found its way back through the mesh, from A's address and port, or the connected
socket would not take it). A datagram to C (no task) is answered too, the task seeing C's sandbox
address. `naive` (the same program answering with a plain `sendto` from its wildcard socket, the
kernel choosing the route and the source) is answered the same way through both: its answers
leave by the mesh too (ingressrules.task_rules). After `svc rm` no host keeps the mesh or an `ip
rule` of its mark.
"""

from __future__ import annotations

import ipaddress

import pytest
import udpecho
from helpers import poll
from meshcheck import in_ns, mesh_left, running

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(udpecho.compiler() is None, reason="no C compiler for the UDP service"),
]
TARGET = 53  # a task's own, beside the node's DNS server at 127.0.0.11 (dns.py)


def test_udp_is_answered_locally_with_the_client_s_address_and_through_a_node_without_a_task(  # type: ignore[no-untyped-def]
    make_cluster, tmp_path
) -> None:
    image = udpecho.build_image(str(tmp_path))
    c = make_cluster(netns=True)
    c.start_manager(c.add_host())
    a, h3 = (c.start_node(c.add_host(), wait=False) for _ in range(2))
    c.wait_ready()
    for h in (a, h3):
        c.import_image(h, image, "udpecho")
        in_ns(h.netns, "iptables", "-w", "-P", "FORWARD", "DROP")  # as where dockerd runs
    client = c.net.gateway  # the test process's address on the hosts' bridge

    services = {"dns": (5353, ["udpecho", str(TARGET)]), "naive": (5354, ["udpecho", str(TARGET), "naive"])}
    for name, (port, cmd) in services.items():
        c.ok(
            "create", "--name", name, "-p", f"{port}:{TARGET}/udp",
            "--constraint", f"node.hostname==node-{a.name}", "udpecho", *cmd,
        )  # fmt: skip
        poll(lambda name=name: running(c, a, name), 60, what=f"{name} to run on host A")
    assert not running(c, h3, "dns") and not running(c, h3, "naive")

    for name, (port, _) in services.items():
        task, peer = poll(lambda port=port: (got := udpecho.ask(a.addr, port))[0] and got, 30, what=f"{name} through A")
        assert peer == client, f"{name}: A's task saw {peer}, not the client {client}"
        for _ in range(4):  # bounded: every datagram to A is answered by A's task, seeing the client
            assert udpecho.ask(a.addr, port) == (task, client), name
        got, peer = poll(lambda port=port: (got := udpecho.ask(h3.addr, port))[0] and got, 30, what=f"{name} through C")
        assert got == task, f"{name} through C: answered by {got}"
        assert ipaddress.ip_address(peer) in ipaddress.ip_network("10.255.0.0/16"), peer  # C's sandbox

    for name in services:
        c.ok("rm", name)
    for h in (a, h3):
        poll(lambda h=h: not mesh_left(h), 60, what=f"host {h.name} to remove the routing mesh")
        assert "0x5356" not in in_ns(h.netns, "ip", "rule"), f"host {h.name} has the mesh's ip rule"
    assert udpecho.ask(a.addr, 5353, timeout=1) == ("", "")
