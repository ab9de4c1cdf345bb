"""UDP heartbeats across real hosts (manager/heartbeatudp.py, node/agent/session.py).

A worker's beats go as datagrams; a partition (iptables drops every packet between the hosts, UDP
too) makes the leader mark it down after 3 silent periods, and after the heal it registers again and
beats over UDP again. Where UDP does not get through (dropped on the way) or the manager has it off,
the node beats on its gRPC stream and stays ready.
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest
from helpers import poll
from netns import sh

pytestmark = pytest.mark.cluster


def beats(h) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """svc_heartbeats_total by path from the manager on `h`."""
    out: dict[str, float] = {}
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"http://{h.addr}:9424/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                m = re.match(r'svc_heartbeats_total\{path="(\w+)"\} (\S+)', line)
                if m:
                    out[m.group(1)] = float(m.group(2))
    except OSError:
        pass
    return out


def grows(h, path: str, by: float, timeout: float) -> None:  # type: ignore[no-untyped-def]
    start = beats(h).get(path, 0.0)
    poll(lambda: beats(h).get(path, 0.0) >= start + by, timeout, interval=0.2, what=f"{by:g} more {path} beats")


def test_a_partitioned_node_is_marked_down_and_comes_back_on_udp(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    m = c.start_manager(c.add_host())
    w = c.start_node(c.add_host(), join=m)
    name = f"node-{w.name}"
    grows(m, "udp", 3, 10)
    before = beats(m)
    time.sleep(3)
    after = beats(m)
    assert after["udp"] - before["udp"] >= 2 and after.get("stream", 0) == before.get("stream", 0), (before, after)
    start = time.monotonic()
    c.net.partition([w.netns])
    try:
        poll(lambda: c.node_state(name) == "down", 15, interval=0.2, what="the partitioned node down")
        print(f"\npartitioned node down after {time.monotonic() - start:.1f}s")
    finally:
        c.net.heal()
    poll(lambda: c.node_state(name) == "ready", 40, interval=0.2, what="the node ready after the heal")
    grows(m, "udp", 3, 15)  # its new session beats over UDP again


def test_udp_dropped_on_the_way_falls_back_to_the_stream(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    m = c.start_manager(c.add_host())
    w = c.add_host()
    port = m.api.rsplit(":", 1)[1]
    sh("iptables", "-A", "OUTPUT", "-p", "udp", "--dport", port, "-j", "DROP", netns=w.netns)
    c.start_node(w, join=m)
    grows(m, "stream", 5, 15)
    time.sleep(6)  # twice the down limit
    assert c.node_state(f"node-{w.name}") == "ready"
    assert beats(m).get("udp", 0) == 0
    assert "heartbeat failure" not in m.manager.log()  # never marked down
    assert "heartbeats go on the gRPC stream" in w.node.log()


def test_udp_off_on_the_manager_keeps_beats_on_the_stream(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(netns=True)
    m = c.start_manager(c.add_host(), extra=("--heartbeat-udp-port", "-1"))
    w = c.start_node(c.add_host(), join=m)
    grows(m, "stream", 5, 15)
    time.sleep(4)
    assert c.node_state(f"node-{w.name}") == "ready"
    assert beats(m).get("udp", 0) == 0
