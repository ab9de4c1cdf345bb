"""Overlay networks in the store: subnets, VXLAN ids, virtual IPs and task addresses are allocated
inside apply, so every manager hands out the same ones, never one twice, across snapshots."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from clusterfixtures import service, task

from manager import ipam
from manager.store import ops
from manager.store.objects import FAILED, RUNNING, TaskStatusObj
from manager.store.state import StoreState
from svc.v1 import cluster_pb2 as cpb


def fresh() -> StoreState:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))
    return s


def net(s: StoreState, name: str, subnet: str = "") -> tuple[str, str]:
    return s.apply(ops.network_create("n-" + name, cpb.NetworkSpec(name=name, subnet=subnet)))


def test_subnets_and_vnis_come_from_the_pool_in_order() -> None:
    s = fresh()
    assert net(s, "a") == ("", "n-a") and net(s, "b")[0] == ""
    a, b = s.networks["n-a"], s.networks["n-b"]
    assert (a.spec.subnet, a.spec.gateway, a.vni) == ("10.0.0.0/24", "10.0.0.1", 4096)
    assert (b.spec.subnet, b.vni) == ("10.0.1.0/24", 4097)
    assert net(s, "a") == ("AlreadyExists", "network a already exists")
    code, msg = net(s, "c", "10.0.1.128/25")
    assert code == "InvalidArgument" and "overlaps network b (10.0.1.0/24)" in msg
    assert net(s, "d", "10.0.0.0/16")[0] == "InvalidArgument"  # covers a and b
    assert net(s, "e", "192.168.7.0/24")[0] == "" and s.networks["n-e"].spec.gateway == "192.168.7.1"


def test_next_subnet_jumps_past_a_larger_network() -> None:
    taken = [ipaddress.IPv4Network("10.0.0.0/16")]
    assert str(ipam.next_subnet(ipaddress.IPv4Network("10.0.0.0/8"), 24, taken)) == "10.1.0.0/24"
    assert ipam.next_subnet(ipaddress.IPv4Network("10.0.0.0/24"), 24, taken) is None
    assert ipam.mac_for("10.0.0.5/24") == "02:42:0a:00:00:05"


def _service(s: StoreState, name: str, *networks: str, mode: str = "") -> cpb.ServiceSpec:
    spec = cpb.ServiceSpec(name=name, replicas=2, endpoint_mode=mode)
    for n in networks:
        spec.networks.add(target=n)
    return spec


def test_a_service_gets_a_vip_and_its_tasks_addresses_that_come_back_when_they_end() -> None:
    s = fresh()
    net(s, "front")
    assert s.apply(ops.service_create("s-web", _service(s, "web", "front")))[0] == ""
    web = s.services["s-web"]
    assert web.spec.networks[0].target == "n-front"  # stored by id
    assert web.vips == (("n-front", "10.0.0.2/24"),)
    svc = replace(service("web"), id="s-web", spec=web.spec)
    t1, t2 = task(svc, 1, "n-a", state="new"), task(svc, 2, "n-a", state="new")
    s.apply(ops.tasks_write(create=[t1, t2]))
    assert s.tasks[t1.id].networks == (("n-front", "10.0.0.3/24"),)
    assert s.tasks[t2.id].networks == (("n-front", "10.0.0.4/24"),)
    s.apply(ops.tasks_status([(t1.id, "n-a", TaskStatusObj(state=FAILED, timestamp=1))]))
    t3 = task(svc, 1, "n-a", state="new")
    s.apply(ops.tasks_write(create=[t3]))
    assert s.tasks[t3.id].networks == (("n-front", "10.0.0.3/24"),)  # t1 ended: its address is free again

    code, msg = s.apply(ops.network_remove("n-front"))
    assert code == "Conflict" and msg == "network front is in use by service web"
    s.apply(ops.service_remove("s-web"))
    code, msg = s.apply(ops.network_remove("n-front"))
    assert code == "Conflict" and "still in use by 2 tasks" in msg  # t2 and t3 still shut down
    s.apply(ops.tasks_write(delete=[t2.id, t3.id]))
    assert s.apply(ops.network_remove("n-front"))[0] == ""


def test_unknown_network_dnsrr_and_update_release_vips() -> None:
    s = fresh()
    net(s, "a")
    net(s, "b")
    code, msg = s.apply(ops.service_create("s-x", _service(s, "x", "nosuch")))
    assert (code, msg) == ("NotFound", "network nosuch not found") and "s-x" not in s.services
    s.apply(ops.service_create("s-rr", _service(s, "rr", "a", mode="dnsrr")))
    assert s.services["s-rr"].vips == ()
    s.apply(ops.service_create("s-api", _service(s, "api", "a", "b")))
    api = s.services["s-api"]
    assert [v[0] for v in api.vips] == ["n-a", "n-b"]
    spec = cpb.ServiceSpec()
    spec.CopyFrom(api.spec)
    del spec.networks[1]
    assert s.apply(ops.service_update("s-api", api.version, spec))[0] == ""
    assert s.services["s-api"].vips == (api.vips[0],)
    assert "10.0.1.2" not in s.addresses.used["n-b"]


def test_a_snapshot_rebuilds_what_is_in_use() -> None:
    s = fresh()
    net(s, "a")
    s.apply(ops.service_create("s-web", _service(s, "web", "a")))
    svc = replace(service("web"), id="s-web", spec=s.services["s-web"].spec)
    s.apply(ops.tasks_write(create=[task(svc, 1, "n-a", state=RUNNING)]))
    other = StoreState()
    other.load_plain(s.to_plain())
    assert other.digest() == s.digest()
    assert other.addresses.used == s.addresses.used
    assert other.networks["n-a"].vni == 4096
    t = task(svc, 2, "n-a", state="new")
    for st in (s, other):
        st.apply(ops.tasks_write(create=[t]))
    assert other.tasks[t.id].networks == s.tasks[t.id].networks == (("n-a", "10.0.0.4/24"),)


def test_a_full_network_fails_the_task_and_leaves_nothing_taken() -> None:
    s = fresh()
    net(s, "tiny", "10.9.0.0/30")  # .1 gateway, .2 the VIP: no room for tasks
    s.apply(ops.service_create("s-web", _service(s, "web", "tiny")))
    svc = replace(service("web"), id="s-web", spec=s.services["s-web"].spec)
    t = task(svc, 1, "n-a", state="new")
    s.apply(ops.tasks_write(create=[t]))
    assert s.tasks[t.id].state == FAILED and s.tasks[t.id].status.err == "network tiny is full"
    assert s.tasks[t.id].networks == ()


def test_peer_sets_give_each_node_the_whole_of_its_networks() -> None:
    from clusterfixtures import node

    from manager.netpeers import peer_sets

    s = fresh()
    net(s, "a")
    net(s, "b")
    s.apply(ops.service_create("s-web", _service(s, "web", "a")))
    s.apply(ops.service_create("s-db", _service(s, "db", "a", "b", mode="dnsrr")))
    nodes = {"n-1": node("1"), "n-2": node("2"), "n-3": node("3")}
    for nid, n in nodes.items():
        n.description.addr = "192.168.0." + nid[-1]
        s.nodes[nid] = n
    web = replace(service("web"), id="s-web", spec=s.services["s-web"].spec)
    db = replace(service("db"), id="s-db", spec=s.services["s-db"].spec)
    tw = task(web, 1, "n-1", state=RUNNING)
    td = task(db, 1, "n-2", state=RUNNING)
    s.apply(ops.tasks_write(create=[tw, td]))
    sets = peer_sets(s.snapshot(), {"n-1", "n-2", "n-3"})
    assert sets["n-3"] == []  # no task there: no network
    assert [p.name for p in sets["n-1"]] == ["a"] and [p.name for p in sets["n-2"]] == ["a", "b"]
    a = sets["n-1"][0]
    assert {(e.addr, e.node_addr) for e in a.endpoints} == {
        (s.tasks[tw.id].networks[0][1], "192.168.0.1"),
        (s.tasks[td.id].networks[0][1], "192.168.0.2"),
    }
    assert all(e.mac == ipam.mac_for(e.addr) for e in a.endpoints)
    by_name = {x.name: x for x in a.services}
    assert by_name["web"].vip == s.services["s-web"].vips[0][1].split("/")[0]
    assert by_name["db"].vip == "" and by_name["db"].endpoint_mode == "dnsrr"
    assert by_name["db"].task_addrs == [s.tasks[td.id].networks[0][1].split("/")[0]]
