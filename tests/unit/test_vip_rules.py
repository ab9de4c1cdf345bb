"""The VIP table loaded into a container's namespace (pure)."""

from __future__ import annotations

from node.engine.vips import backends, removed, ruleset
from svc.v1 import dispatcher_pb2 as dpb


def test_backends_and_the_ruleset() -> None:
    net = dpb.NetworkPeers(
        network_id="n1",
        services=[
            dpb.ServiceEndpoint(name="api", vip="10.0.1.2/24", task_addrs=["10.0.1.10", "10.0.1.9"]),
            dpb.ServiceEndpoint(name="one", vip="10.0.1.3/24", task_addrs=["10.0.1.5"]),
            dpb.ServiceEndpoint(name="idle", vip="10.0.1.4/24"),
            dpb.ServiceEndpoint(name="rr", endpoint_mode="dnsrr", task_addrs=["10.0.1.6"]),
        ],
    )
    vips = backends([net])
    assert vips == {"10.0.1.2": ("10.0.1.9", "10.0.1.10"), "10.0.1.3": ("10.0.1.5",), "10.0.1.4": ()}
    text = ruleset(vips)
    # add, delete and define in one transaction: the table is replaced whole
    assert text.startswith("table ip svc_vip\ndelete table ip svc_vip\ntable ip svc_vip {")
    assert "ip daddr 10.0.1.2 dnat to numgen inc mod 2 map { 0 : 10.0.1.9, 1 : 10.0.1.10 }" in text
    assert "ip daddr 10.0.1.3 dnat to 10.0.1.5" in text
    assert "ip daddr 10.0.1.4 reject" in text
    assert "10.0.1.6" not in text


def test_no_vips_is_an_empty_chain() -> None:
    text = ruleset({})
    assert "daddr" not in text and "type nat hook output" in text


def test_removed_backends() -> None:
    old = {"10.0.1.2": ("10.0.1.5", "10.0.1.6"), "10.0.1.3": ("10.0.1.7",)}
    new = {"10.0.1.2": ("10.0.1.6",)}
    assert removed(old, new) == [("10.0.1.2", "10.0.1.5"), ("10.0.1.3", "10.0.1.7")]
    assert removed(new, new) == []
