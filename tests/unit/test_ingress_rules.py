"""node/engine/ingressrules.py: the routing mesh's two nftables tables, from the ingress set."""

from __future__ import annotations

from node.engine import ingressrules as r
from svc.v1 import dispatcher_pb2 as dpb


def _net() -> dpb.NetworkPeers:
    net = dpb.NetworkPeers(ingress=True, sandbox="10.255.171.125/16")
    web = net.services.add(name="web", task_addrs=["10.255.0.6", "10.255.0.5"])
    web.ports.add(published=8080, target=80, protocol="tcp")
    web.ports.add(published=5353, target=53, protocol="udp")
    idle = net.services.add(name="idle")
    idle.ports.add(published=9090, target=90, protocol="tcp")
    return net


def test_published_ports_with_their_tasks_in_address_order() -> None:
    assert r.published(_net()) == [
        r.Published(5353, "udp", 53, ("10.255.0.5", "10.255.0.6")),
        r.Published(8080, "tcp", 80, ("10.255.0.5", "10.255.0.6")),
        r.Published(9090, "tcp", 90, ()),
    ]


def test_host_table_sends_every_local_address_s_port_to_the_sandbox() -> None:
    text = r.host_ruleset(r.published(_net()))
    assert text.startswith("table ip svc_ingress\ndelete table ip svc_ingress\n")
    assert text.count("fib daddr type local tcp dport { 8080, 9090 } dnat to 169.254.88.2") == 2  # prerouting, output
    assert text.count("fib daddr type local udp dport { 5353 } dnat to 169.254.88.2") == 2
    assert 'oifname "svcing0" ip saddr 127.0.0.0/8 masquerade' in text
    assert "dport" not in r.host_ruleset([])


def test_sandbox_table_balances_to_the_tasks_and_snats_to_the_sandbox() -> None:
    text = r.sandbox_ruleset(r.published(_net()), "10.255.171.125/16")
    assert 'iifname "gw0" tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 10.255.0.5, 1 : 10.255.0.6 } : 80' in text
    assert 'iifname "gw0" tcp dport 9090 reject with tcp reset' in text  # no task: refused at once
    assert 'oifname "br0" ct status dnat snat to 10.255.171.125' in text
    one = r.sandbox_ruleset([r.Published(8080, "tcp", 80, ("10.255.0.5",))], "10.255.171.125")
    assert 'iifname "gw0" tcp dport 8080 dnat to 10.255.0.5:80' in one


def test_forward_accept_rules() -> None:
    from node.engine import forwardrules as f

    assert f.chain_name("svc0") == "SVC-svc0" and len(f.chain_name("x" * 40)) == 28
    assert f.bridge_rules("svc0") == [
        ["-i", "svc0", "-j", "ACCEPT"],
        ["-o", "svc0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"],
    ]
    assert f.link_rules("svcing0") == [["-i", "svcing0", "-j", "ACCEPT"], ["-o", "svcing0", "-j", "ACCEPT"]]


def test_the_mesh_is_built_only_from_an_ingress_set_that_names_this_node_s_sandbox() -> None:
    overlay = dpb.NetworkPeers(name="app", vni=4097)
    assert r.mesh_set([overlay, _net()]) == _net()
    stopping = _net()
    stopping.sandbox = ""  # a removed service's tasks still stop on the network: transitional, no mesh
    assert r.mesh_set([overlay, stopping]) is None
    assert r.mesh_set([overlay]) is None and r.mesh_set([]) is None
    assert r.mesh_set([dpb.NetworkPeers(name="app", sandbox="10.255.171.125/16")]) is None  # not the ingress set
