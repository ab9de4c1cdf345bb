"""Issue #14's "done when": a two-service application across three namespace hosts.

`api` (one task, on host B) serves its hostname; `web` (one task, on host A) is published
`-p 8080:80` and answers a CGI request by calling `api` by name over the overlay network `app`
(the embedded DNS server, the VIP) and returning both answers. Port 8080 answers on every host:
A (runs web), B (runs api, not web) and C (runs neither), every time with web's and api's
hostnames. Removing the services and the network leaves no mesh and no overlay namespace on any
host. A 4th namespace host is the manager. Every node host has Docker's FORWARD policy DROP.
"""

from __future__ import annotations

import pytest
from helpers import poll
from meshcheck import get, in_ns, mesh_left, running

pytestmark = pytest.mark.cluster

PORT = 8080
API = "mkdir -p /a && hostname > /a/index.html && exec httpd -f -p 8080 -h /a"
# web's CGI script: its own hostname, then api's answer fetched by name.
WEB = (
    "mkdir -p /www/cgi-bin && printf '%s\\n' '#!/bin/sh' 'echo Content-Type: text/plain' 'echo'"
    " 'echo web $(hostname)' 'wget -q -O - http://api:8080/' > /www/cgi-bin/app"
    " && chmod +x /www/cgi-bin/app && exec httpd -f -p 80 -h /www"
)


def test_web_calls_api_by_name_and_answers_on_every_host(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    c.start_manager(c.add_host())
    a, b, h3 = (c.start_node(c.add_host(), wait=False) for _ in range(3))
    c.wait_ready()
    for h in (a, b, h3):
        c.import_image(h, c.busybox)
        in_ns(h.netns, "iptables", "-w", "-P", "FORWARD", "DROP")  # as where dockerd runs

    c.ok("network", "create", "--subnet", "10.32.0.0/24", "app")
    for name, host, extra, cmd in (
        ("api", b, [], API),  # first, so web's node knows the name when web starts
        ("web", a, ["-p", f"{PORT}:80"], WEB),
    ):
        c.ok(
            "create", "--name", name, "--network", "app", *extra,
            "--constraint", f"node.hostname==node-{host.name}", "busybox", "sh", "-c", cmd,
        )  # fmt: skip
        poll(lambda n=name, h=host: running(c, h, n), 60, what=f"{name} to run on host {host.name}")

    answers = {}
    for h in (a, b, h3):
        url = f"http://{h.addr}:{PORT}/cgi-bin/app"
        answers[h.name] = poll(lambda u=url: get(u), 30, what=f"web through host {h.name}'s port {PORT}")
    lines = [v.splitlines() for v in answers.values()]
    assert all(len(v) == 2 and v[0].startswith("web ") for v in lines), answers
    assert len({v[0] for v in lines}) == 1 and len({v[1] for v in lines}) == 1, answers  # one web, one api
    assert lines[0][0] != f"web {lines[0][1]}", answers  # web's hostname and api's are two tasks'
    for h in (a, b, h3):  # and again: every host, every time
        assert get(f"http://{h.addr}:{PORT}/cgi-bin/app") == answers[h.name], f"host {h.name}"

    c.ok("rm", "web", "api")
    poll(lambda: c.cli(None, "network", "rm", "app").returncode == 0, 30, what="network app to be removable")
    for h in (a, b, h3):
        poll(lambda h=h: not mesh_left(h), 60, what=f"host {h.name} to remove the mesh and the overlay")
    assert get(f"http://{a.addr}:{PORT}/cgi-bin/app") == ""
