"""The routing mesh end to end (issue #14): 1 manager and 2 nodes on namespace hosts.

A service with one replica on host B, published `-p 8080:80` (ingress mode, the default), answers
on host A's address too; scaled to 2, connections through A reach both tasks; a second service
cannot publish the same port; `svc inspect` says how the port is published. When the service is
removed, no host keeps the mesh's table, veth, FORWARD rules or namespace. Both hosts have Docker's
FORWARD policy DROP throughout.
"""

from __future__ import annotations

import json
import time

import pytest
from helpers import poll
from meshcheck import get, get_from, in_ns, mesh_left, running

pytestmark = pytest.mark.cluster

PORT = 8080
HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


def test_a_published_port_answers_on_every_node(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    c.start_manager(c.add_host())
    a, b = c.start_node(c.add_host(), wait=False), c.start_node(c.add_host(), wait=False)
    c.wait_ready()
    for h in (a, b):
        c.import_image(h, c.busybox)
        in_ns(h.netns, "iptables", "-w", "-P", "FORWARD", "DROP")  # as where dockerd runs

    c.ok(
        "create", "--name", "web", "-p", f"{PORT}:80", "--constraint", f"node.hostname==node-{b.name}",
        "busybox", "sh", "-c", HTTPD,
    )  # fmt: skip
    poll(lambda: running(c, b, "web"), 60, what="web to run on host B")
    assert not running(c, a, "web")
    first = poll(lambda: get(f"http://{a.addr}:{PORT}/"), 30, what="web through host A's port (A runs no task of web)")
    assert get(f"http://{b.addr}:{PORT}/") == first
    # From host A itself: its own address and its loopback (the output chain; loopback masqueraded).
    for target in (a.addr, "127.0.0.1"):
        assert get_from(a, f"http://{target}:{PORT}/") == first, f"host A to {target}:{PORT}"

    doc = json.loads(c.ok("inspect", "web"))[0]
    assert doc["Endpoint"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": PORT, "PublishMode": "ingress"}
    ]
    r = c.cli(None, "create", "--name", "other", "-p", f"{PORT}:81", "busybox", "sleep", "1000")
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r
    assert f"port {PORT}/tcp is already published by service web" in r.stderr
    assert "other" not in c.ok("ls", "-q", "--format", "{{.Name}}")
    assert "ingress" in c.ok("network", "ls", "--format", "{{.Name}}").split()  # made by the managers
    for args, why in (
        (("network", "rm", "ingress"), "network ingress is in use by service web"),
        (("network", "create", "ingress"), "routing mesh"),
        (("create", "--name", "bad", "-p", "mode=mesh,target=80", "busybox"), "mode must be ingress or host"),
    ):
        r = c.cli(None, *args)
        assert r.returncode != 0 and r.stderr.count("\n") == 1 and why in r.stderr, r
    assert c.ok("ls", "--format", "{{.Name}} {{.Ports}}").split() == ["web", f"*:{PORT}->80/tcp"]

    c.ok("scale", "web=2")
    poll(lambda: len(running(c, b, "web")) == 2, 60, what="2 tasks of web on host B")
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    for _ in range(40):  # bounded: at most 40 requests, 30 s
        if time.monotonic() > deadline or len(seen) == 2:
            break
        got = get(f"http://{a.addr}:{PORT}/")
        seen.add(got) if got else time.sleep(0.5)
        if len(seen) < 2:
            time.sleep(0.2)  # the second task may not be in the rotation yet
    assert len(seen) == 2, f"connections through host A reached only {seen}"

    # Back to 1: the task that goes leaves the rotation (and its connections the sandbox's conntrack).
    c.ok("scale", "web=1")
    poll(lambda: len(running(c, b, "web")) == 1, 60, what="1 task of web on host B")
    time.sleep(1)  # the nodes' next ingress set
    answers = [get(f"http://{a.addr}:{PORT}/") for _ in range(6)]
    assert all(answers) and len(set(answers)) == 1, f"every request through A answered by the one task: {answers}"

    c.ok("rm", "web")
    for h in (a, b):
        poll(lambda h=h: not mesh_left(h), 60, what=f"host {h.name} to remove the routing mesh")
    assert get(f"http://{a.addr}:{PORT}/") == ""
