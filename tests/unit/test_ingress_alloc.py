"""The routing mesh in the store and the peer sets: the ingress network made by the first service
that publishes in ingress mode, an address per task on it, every node's sandbox, ports that no two
services share (manager/store/netalloc.py, manager/netpeers.py, manager/portalloc.py, manager/ipam.py)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from clusterfixtures import node, service, task

from manager import ipam, portalloc
from manager.netpeers import peer_sets
from manager.store import ops
from manager.store.netalloc import ingress_of
from manager.store.objects import RUNNING
from manager.store.state import StoreState
from node.engine.ingressrules import mesh_set
from svc.errors import InvalidArgument
from svc.ports import parse_publish
from svc.v1 import cluster_pb2 as cpb


def _spec(name: str, *ports: str, mode: str = "") -> cpb.ServiceSpec:
    spec = cpb.ServiceSpec(name=name, replicas=2, endpoint_mode=mode)
    spec.task.ports.extend(parse_publish(p, pick=True) for p in ports)
    portalloc.assign(spec, [])
    return spec


def test_ports_default_to_ingress_and_no_two_services_share_one() -> None:
    web = _spec("web", "8080:80", "mode=host,target=22,published=2222")
    assert [(p.host_port, p.publish_mode) for p in web.task.ports] == [(8080, "ingress"), (2222, "host")]
    with pytest.raises(
        InvalidArgument, match=r"port 8080/tcp is already published by service web \(through the routing mesh\)"
    ):
        portalloc.assign(_raw("api", "8080:80"), [web])
    with pytest.raises(InvalidArgument, match=r"port 8080/tcp is already published by service web"):
        portalloc.assign(_raw("api", "mode=host,target=80,published=8080"), [web])
    with pytest.raises(InvalidArgument, match=r"port 2222/tcp is already published by service web \(in host mode\)"):
        portalloc.assign(_raw("api", "2222:22"), [web])
    portalloc.assign(_raw("api", "mode=host,target=22,published=2222"), [web])  # host and host: the scheduler's
    portalloc.assign(_raw("api", "8080:80/udp"), [web])  # another protocol
    with pytest.raises(InvalidArgument, match="mode must be ingress or host"):
        parse_publish("mode=mesh,target=80", pick=True)
    with pytest.raises(InvalidArgument, match="target is required"):
        parse_publish("published=80", pick=True)


def _raw(name: str, *ports: str) -> cpb.ServiceSpec:
    spec = cpb.ServiceSpec(name=name)
    spec.task.ports.extend(parse_publish(p, pick=True) for p in ports)
    return spec


def test_the_first_ingress_service_makes_the_network_and_its_tasks_get_addresses() -> None:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    assert s.apply(ops.service_create("s-host", _spec("h", "mode=host,target=80,published=81")))[0] == ""
    assert ingress_of(s.networks) is None, "host mode needs no mesh"
    code, msg = s.apply(ops.service_create("s-rr", _spec("rr", "8081:80", mode="dnsrr")))
    assert code == "InvalidArgument" and "dnsrr" in msg and ingress_of(s.networks) is None
    assert s.apply(ops.service_create("s-web", _spec("web", "8080:80")))[0] == ""
    ing = ingress_of(s.networks)
    assert ing is not None and ing.name == "ingress" and ing.spec.subnet == "10.255.0.0/16" and ing.vni == 4096
    svc = replace(service("web"), id="s-web", spec=s.services["s-web"].spec)
    t1 = task(svc, 1, "n-1", state="new")
    s.apply(ops.tasks_write(create=[t1]))
    assert s.tasks[t1.id].networks == ((ing.id, "10.255.0.2/16"),)
    code, msg = s.apply(ops.network_create("n-x", cpb.NetworkSpec(name="ingress")))
    assert code == "InvalidArgument" and "routing mesh" in msg
    code, msg = s.apply(ops.network_remove(ing.id))
    assert code == "Conflict" and "web" in msg
    # a snapshot keeps it, and what it holds
    again = StoreState()
    again.load_plain(s.to_plain())
    assert ingress_of(again.networks) == ing and "10.255.0.2" in again.addresses.used[ing.id]


def test_every_node_gets_the_ingress_set_with_every_sandbox() -> None:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    s.apply(ops.service_create("s-web", _spec("web", "8080:80")))
    for i in (1, 2, 3):
        n = replace(node(str(i)), id=f"n-{i}")
        n.description.addr = f"192.168.0.{i}"
        s.nodes[n.id] = n
    svc = replace(service("web"), id="s-web", spec=s.services["s-web"].spec)
    t1 = task(svc, 1, "n-2", state=RUNNING)
    s.apply(ops.tasks_write(create=[t1]))
    sets = peer_sets(s.snapshot(), {"n-1", "n-2", "n-3"})
    ing = ingress_of(s.networks)
    assert ing is not None
    boxes = ipam.sandbox_addrs(ipaddress.IPv4Network(ing.spec.subnet), ["n-1", "n-2", "n-3"])
    for nid in ("n-1", "n-2", "n-3"):
        (mine,) = sets[nid]
        assert mine.ingress and mine.sandbox == boxes[nid]
        assert {(e.addr, e.node_addr) for e in mine.endpoints if not e.task_id} == {
            (boxes[f"n-{i}"], f"192.168.0.{i}") for i in (1, 2, 3)
        }
        (web,) = mine.services
        assert web.task_addrs == ["10.255.0.2"] and [(p.published, p.target, p.protocol) for p in web.ports] == [
            (8080, 80, "tcp")
        ]
    s.apply(ops.service_remove("s-web"))
    assert peer_sets(s.snapshot(), {"n-1"})["n-1"] == [], "no service publishes: the mesh leaves the nodes"
    # n-2's task still stops: the set stays for its endpoint, without a sandbox, and builds no mesh there
    after = peer_sets(s.snapshot(), {"n-2"})["n-2"]
    assert [(n.ingress, n.sandbox, len(n.services)) for n in after] == [(True, "", 0)]
    assert mesh_set(after) is None


def test_sandboxes_are_distinct_in_the_upper_half_and_stable() -> None:
    net = ipaddress.IPv4Network("10.255.0.0/16")
    ids = [f"node{i:03d}" for i in range(300)]
    boxes = ipam.sandbox_addrs(net, ids)
    addrs = [ipaddress.IPv4Interface(a).ip for a in boxes.values()]
    assert len(set(addrs)) == 300 and all(a > ipaddress.IPv4Address("10.255.128.0") for a in addrs)
    assert all(a != net.broadcast_address for a in addrs)
    small = ipam.sandbox_addrs(ipaddress.IPv4Network("10.0.3.0/24"), ["a", "b"])
    assert all(128 < int(ipaddress.IPv4Interface(a).ip) % 256 < 255 for a in small.values())
