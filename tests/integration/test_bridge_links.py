"""The node bridge wired in-process (bridgelink.py, rtnl.py, hostlocal.py): what the CNI bridge plugin did.

Two containers get distinct addresses of the subnet, Docker's MAC, a default route via the gateway,
and reach each other; a container reaches its own published port through the gateway (hairpin);
a bridge someone set down is brought back up by the next start; a removed container leaves no bridge
port and no reservation (the `engine` fixture checks both); a
container wired by the real `bridge` and `host-local` plugins (as an older svc did) is detached here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

import pytest
from helpers import bridge_ports, free_port, poll

from node.engine.network import netns_name
from node.engine.overlaypeers import mac_of
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/www"]  # the test image's /www/index.html: "hello from svc"


def _sh(engine, cid: str, script: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, out, err = engine.exec(cid, ["sh", "-c", script], timeout=20)
    return code, (out + err).decode()


def test_two_containers_on_the_bridge_reach_each_other(engine, engine_env) -> None:  # type: ignore[no-untyped-def]
    a = engine.run(pb.ContainerSpec(image="busybox", cmd=HTTPD))
    b = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    net = ipaddress.ip_network(engine_env.subnet)
    gateway = str(net.network_address + 1)
    assert a.ip != b.ip and {ipaddress.ip_address(a.ip), ipaddress.ip_address(b.ip)} <= set(net.hosts())
    assert gateway not in (a.ip, b.ip)
    code, out = _sh(engine, b.id, "ip route show default; ip -o -4 addr show eth0; ip -o link show eth0")
    assert code == 0 and f"default via {gateway} dev eth0" in out and f"{b.ip}/{net.prefixlen}" in out, out
    assert mac_of(b.ip) in out, out  # Docker's: 02:42 and the address
    assert len(bridge_ports(engine_env.bridge)) == 2

    def fetched() -> str | bool:
        code, out = _sh(engine, b.id, f"wget -O - http://{a.ip}/index.html")
        return code == 0 and out

    assert "hello from svc" in poll(fetched, 20, what="httpd of the other container")


def test_a_bridge_set_down_is_brought_back_up_by_the_next_start(engine, engine_env) -> None:  # type: ignore[no-untyped-def]
    a = engine.run(pb.ContainerSpec(image="busybox", cmd=HTTPD))
    subprocess.run(["ip", "link", "set", engine_env.bridge, "down"], check=True)
    b = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    with open(f"/sys/class/net/{engine_env.bridge}/flags") as f:
        assert int(f.read(), 16) & 1, "the bridge is still down (IFF_UP)"

    def fetched() -> str | bool:
        code, out = _sh(engine, b.id, f"wget -O - http://{a.ip}/index.html")
        return code == 0 and out

    assert "hello from svc" in poll(fetched, 20, what="httpd of the other container, over the bridge brought back")


def test_a_container_reaches_its_own_published_port_through_the_gateway(engine, engine_env) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    c = engine.run(
        pb.ContainerSpec(image="busybox", cmd=HTTPD, ports=[pb.PortMapping(host_port=port, container_port=80)])
    )
    gateway = str(ipaddress.ip_network(engine_env.subnet).network_address + 1)

    def fetched() -> str | bool:
        code, out = _sh(engine, c.id, f"wget -O - http://{gateway}:{port}/index.html")
        return code == 0 and out

    assert "hello from svc" in poll(fetched, 20, what="its own published port, back through the bridge (hairpin)")


def test_a_container_the_plugins_wired_is_detached_in_process(engine, engine_env) -> None:  # type: ignore[no-untyped-def]
    """As an older svc attached it: the real bridge and host-local plugins, with the same settings."""
    net = engine.network
    cid = "f" * 64
    path = net.namespaces.create(netns_name(cid))
    conf = {
        "cniVersion": "1.0.0",
        "name": net.name,
        "type": "bridge",
        "bridge": net.bridge,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": net.subnet}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": os.path.join(net.state_dir, "ipam"),
        },
    }
    plugin_dir = next((d for d in net.plugin_dirs if os.path.exists(os.path.join(d, "bridge"))), None)
    if plugin_dir is None:
        pytest.skip("the CNI bridge plugin is not installed (svc no longer needs it)")
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": path, "CNI_IFNAME": "eth0",
           "CNI_PATH": plugin_dir, "PATH": os.environ["PATH"]}  # fmt: skip
    r = subprocess.run([os.path.join(plugin_dir, "bridge")], input=json.dumps(conf), env=env, capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    ip = json.loads(r.stdout)["ips"][0]["address"].split("/")[0]
    assert len(bridge_ports(net.bridge)) == 1
    # A container wired here next does not get the plugin's address.
    c = engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"]))
    assert c.ip != ip
    net.detach(cid, "bridge", [])
    assert len(bridge_ports(net.bridge)) == 1  # only the new container's
    assert ip not in os.listdir(os.path.join(net.state_dir, "ipam", net.name))
    engine.remove(c.id, force=True)
    assert bridge_ports(net.bridge) == []
