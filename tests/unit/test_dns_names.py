"""The embedded DNS server's names, from the managers' peer sets (pure)."""

from __future__ import annotations

from node.engine.dnsnames import container_table, lookup, network_table
from svc.v1 import dispatcher_pb2 as dpb


def _net(nid: str, name: str, *services: dpb.ServiceEndpoint) -> dpb.NetworkPeers:
    return dpb.NetworkPeers(network_id=nid, name=name, services=list(services))


API = dpb.ServiceEndpoint(name="api", aliases=["db"], vip="10.0.1.2/24", task_addrs=["10.0.1.9", "10.0.1.4"])
RR = dpb.ServiceEndpoint(name="cache", endpoint_mode="dnsrr", vip="", task_addrs=["10.0.1.7", "10.0.1.6"])


def test_service_names_aliases_and_tasks() -> None:
    t = network_table(_net("n1", "backend", API, RR))
    assert lookup(t, "api") == ("10.0.1.2",)
    assert lookup(t, "API.backend.") == ("10.0.1.2",)
    assert lookup(t, "db") == lookup(t, "db.backend") == ("10.0.1.2",)
    assert lookup(t, "tasks.api") == lookup(t, "tasks.api.backend") == ("10.0.1.4", "10.0.1.9")
    assert lookup(t, "cache") == ("10.0.1.6", "10.0.1.7"), "dnsrr: the tasks, not a VIP"
    assert lookup(t, "nosuch") is None and lookup(t, "api.other") is None


def test_a_service_without_tasks_is_known_but_empty() -> None:
    t = network_table(_net("n1", "backend", dpb.ServiceEndpoint(name="idle", vip="10.0.1.3/24")))
    assert lookup(t, "idle") == ("10.0.1.3",) and lookup(t, "tasks.idle") == ()


def test_a_container_sees_only_its_networks_first_attachment_first() -> None:
    nets = {
        "n1": _net("n1", "backend", API),
        "n2": _net("n2", "front", dpb.ServiceEndpoint(name="api", vip="10.0.2.2/24")),
        "n3": _net("n3", "secret", dpb.ServiceEndpoint(name="vault", vip="10.0.3.2/24")),
    }
    t = container_table(nets, ["n2", "n1"])
    assert lookup(t, "api") == ("10.0.2.2",) and lookup(t, "api.backend") == ("10.0.1.2",)
    assert lookup(t, "vault") is None
