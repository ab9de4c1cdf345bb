"""node/engine/ingressrules.py, local first: a port with tasks on this node goes to those,
unSNATed, and a task's own table marks what came in over the mesh so its replies go back there."""

from __future__ import annotations

from node.engine import ingressrules as r
from svc.v1 import container_pb2 as pb

WEB = r.Published(8080, "tcp", 80, ("10.255.0.5", "10.255.0.6", "10.255.0.7"))
API = r.Published(9090, "tcp", 90, ("10.255.0.9",))


def test_without_local_tasks_the_table_is_today_s() -> None:
    assert r.sandbox_ruleset([WEB, API], "10.255.171.125/16", frozenset()) == r.sandbox_ruleset(
        [WEB, API], "10.255.171.125/16"
    )
    assert r.sandbox_ruleset([WEB], "10.255.171.125", frozenset({"10.255.0.99"})) == r.sandbox_ruleset(
        [WEB], "10.255.171.125"
    )  # a local container that is no port's backend changes nothing


def test_local_tasks_take_their_port_and_are_not_snated() -> None:
    text = r.sandbox_ruleset([WEB, API], "10.255.171.125/16", frozenset({"10.255.0.7", "10.255.0.5"}))
    assert 'iifname "gw0" tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 10.255.0.5, 1 : 10.255.0.7 } : 80' in text
    assert 'iifname "gw0" tcp dport 9090 dnat to 10.255.0.9:90' in text  # no local task: any node's
    assert 'oifname "br0" ct status dnat ip daddr != { 10.255.0.5, 10.255.0.7 } snat to 10.255.171.125' in text
    one = r.sandbox_ruleset([WEB], "10.255.171.125", frozenset({"10.255.0.6"}))
    assert "tcp dport 8080 dnat to 10.255.0.6:80" in one and "numgen" not in one


def test_task_table_marks_connections_from_outside_the_ingress_subnet() -> None:
    text = r.task_ruleset("eth2", "10.255.0.0/16")
    assert text.startswith("table ip svc_ingress\ndelete table ip svc_ingress\n")
    assert 'iifname "eth2" ip saddr != 10.255.0.0/16 ct state new ct mark set 0x5356' in text
    assert "type filter hook prerouting priority -150" in text
    assert "type route hook output priority -150" in text  # a changed mark reroutes the reply
    assert text.count("ct mark 0x5356 meta mark set ct mark") == 2
    assert r.MARK == r.RT_TABLE and r.RULE_PRIORITY < 32766  # before the main table's rule


def test_a_task_s_rules_send_its_mesh_udp_ports_answers_back_through_the_mesh() -> None:
    ports = [
        pb.PortMapping(host_port=5353, container_port=5300, protocol="udp", publish_mode="ingress"),
        pb.PortMapping(host_port=8080, container_port=80, protocol="tcp", publish_mode="ingress"),  # TCP: no rule
        pb.PortMapping(host_port=6000, container_port=60, protocol="udp", publish_mode="ingress"),
        pb.PortMapping(host_port=6001, container_port=60, protocol="udp", publish_mode="host"),  # host mode too
        pb.PortMapping(host_port=7000, container_port=70, protocol="udp"),  # host mode (not marked ingress)
        pb.PortMapping(container_port=90, protocol="udp", publish_mode="ingress"),  # not published
    ]
    assert r.udp_reply_ports(ports) == [5300]
    assert r.task_rules() == [{"priority": 1000, "table": 0x5356, "fwmark": 0x5356}]
    main, back = r.task_rules([5300, 5300])[1:]
    assert main == {"priority": 1001, "table": 254, "suppress_prefixlen": 0, "ip_proto": 17, "sport_range": "5300:5300"}
    assert back == {"priority": 1002, "table": 0x5356, "ip_proto": 17, "sport_range": "5300:5300"}
    assert r.RULE_PRIORITY < r.UDP_MAIN_PRIORITY < r.UDP_RETURN_PRIORITY < 32766
    assert len({r.rule_key(x) for x in r.task_rules([5300, 60])}) == 5  # each told apart from the others
