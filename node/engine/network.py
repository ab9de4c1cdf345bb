"""Container networking: the node bridge in-process, CNI's `portmap` for published ports.

bridge mode: a network namespace per container (made in-process, pinned at
<run dir>/netns/svc-<id12> by `netns.Namespaces`, lo up), wired to the node bridge in-process
(bridgelink.py: what the CNI `bridge` plugin did, over netlink) with an address of the node's own
subnet (hostlocal.py: host-local's store, in-process), then the `portmap` plugin when ports are
published, given that result as its prevResult. none mode: the namespace with lo only. host mode:
no namespace at all. Plugins are run as CNI specifies: config on stdin, CNI_* in the environment, a
JSON result or a JSON error on stdout.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from svc.errors import InvalidArgument, RuntimeFailure
from svc.ports import is_host
from svc.v1 import container_pb2 as pb

from . import forwardrules
from .bridgelink import IFNAME, BridgeLinks, Plugged
from .hostlocal import HostLocal
from .netns import Namespaces

CNI_VERSION = "1.0.0"


def netns_name(cid: str) -> str:
    return "svc-" + cid[:12]


@dataclass(frozen=True)
class Attachment:
    ip: str
    netns: str | None  # None for host networking


class BridgeNetwork:
    def __init__(
        self, bridge: str, subnet: str, plugin_dirs: tuple[str, ...], state_dir: str, namespaces: Namespaces
    ) -> None:
        try:
            net = ipaddress.ip_network(subnet)
        except ValueError as exc:
            raise InvalidArgument(f"invalid bridge subnet {subnet!r}: {exc}") from exc
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 30:
            raise InvalidArgument(f"invalid bridge subnet {subnet!r}: an IPv4 subnet of at least 4 addresses is needed")
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge!r} is longer than 15 characters")
        self.bridge = bridge
        self.routing_mesh = True  # off: a service's ingress-mode ports are published here as host ports
        self.subnet = str(net)
        self.plugin_dirs = plugin_dirs
        self.state_dir = state_dir
        self.namespaces = namespaces
        os.makedirs(state_dir, exist_ok=True)
        self.name = "svc-" + bridge
        self._masquerading = False
        self.ipam = HostLocal(os.path.join(state_dir, "ipam"), self.name, net)
        gateway = ipaddress.IPv4Interface(f"{self.ipam.gateway}/{self.ipam.network.prefixlen}")
        self.links = BridgeLinks(bridge, gateway)

    def holds_namespace(self, cid: str) -> bool:
        return self.namespaces.exists(netns_name(cid))

    def missing_plugins(self) -> list[str]:
        return [p for p in ("portmap",) if self._find(p) is None]

    def _find(self, plugin: str) -> str | None:
        for d in self.plugin_dirs:
            path = os.path.join(d, plugin)
            if os.access(path, os.X_OK):
                return path
        return None

    def ensure_masquerade(self) -> None:
        """Containers reach the outside through the host: one MASQUERADE rule per node subnet."""
        if self._masquerading:
            return
        rule = [
            "POSTROUTING",
            "-s",
            self.subnet,
            "!",
            "-d",
            self.subnet,
            "-j",
            "MASQUERADE",
            "-m",
            "comment",
            "--comment",
            f"svc {self.bridge}",
        ]
        check = subprocess.run(["iptables", "-w", "-t", "nat", "-C", *rule], capture_output=True)
        if check.returncode != 0:
            add = subprocess.run(["iptables", "-w", "-t", "nat", "-A", *rule], capture_output=True)
            if add.returncode != 0:
                raise RuntimeFailure(f"iptables: {add.stderr.decode().strip()}")
        # ...and forwards them under a FORWARD policy of DROP (dockerd's): forwardrules.py
        forwardrules.ensure(forwardrules.chain_name(self.bridge), forwardrules.bridge_rules(self.bridge))
        self._masquerading = True

    @staticmethod
    def _portmap(ports: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "type": "portmap",
            "capabilities": {"portMappings": True},
            "snat": True,
            "runtimeConfig": {"portMappings": ports},
        }

    def _result(self, path: str, address: ipaddress.IPv4Interface, made: Plugged) -> dict[str, Any]:
        """The bridge plugin's result for what bridgelink made: portmap's prevResult."""
        return {
            "cniVersion": CNI_VERSION,
            "interfaces": [
                {"name": self.bridge},
                {"name": made.host_end},
                {"name": IFNAME, "mac": made.mac, "sandbox": path},
            ],
            "ips": [{"address": str(address), "gateway": str(self.ipam.gateway), "interface": 2}],
            "routes": [{"dst": "0.0.0.0/0"}],
        }

    def _exec(self, command: str, plugin_conf: dict[str, Any], cid: str, netns: str) -> dict[str, Any]:
        binary = self._find(plugin_conf["type"])
        if binary is None:
            raise RuntimeFailure(f"CNI plugin {plugin_conf['type']!r} not found in {':'.join(self.plugin_dirs)}")
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": cid,
            "CNI_NETNS": netns,
            "CNI_IFNAME": IFNAME,
            "CNI_PATH": ":".join(self.plugin_dirs),
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        }
        conf = {"cniVersion": CNI_VERSION, "name": self.name, **plugin_conf}
        proc = subprocess.run([binary], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=60)
        out: dict[str, Any] = {}
        if proc.stdout.strip():
            try:
                out = json.loads(proc.stdout)
            except ValueError:
                out = {"msg": proc.stdout.decode("utf-8", "replace").strip()}
        if proc.returncode != 0:
            msg = out.get("msg") or proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
            details = out.get("details")
            raise RuntimeFailure(f"CNI {plugin_conf['type']} {command}: {msg}{': ' + details if details else ''}")
        return out

    def attach(self, cid: str, mode: str, ports: list[pb.PortMapping]) -> Attachment:
        """Create and wire the container's network namespace. On failure nothing is left."""
        if mode == "host":
            return Attachment(ip="", netns=None)
        path = self.namespaces.create(netns_name(cid))
        try:
            if mode == "none":
                return Attachment(ip="", netns=path)
            self.ensure_masquerade()
            address = self.ipam.reserve(cid, IFNAME)
            made = self.links.plug(cid, path, address)
            mapped = [self._port(p) for p in self.published(ports)]
            if mapped:
                conf = {**self._portmap(mapped), "prevResult": self._result(path, address, made)}
                self._exec("ADD", conf, cid, path)
            return Attachment(ip=str(address.ip), netns=path)
        except BaseException:
            self.detach(cid, mode, ports)
            raise

    def detach(
        self, cid: str, mode: str, ports: list[pb.PortMapping], published: list[pb.PortMapping] | None = None
    ) -> None:
        """Undo `attach`; safe to call twice, and after a partial attach. `published`: the ports `attach`
        published (what `published(ports)` said then); by default what it says now, which differs when
        the daemon restarted with the routing mesh turned on or off."""
        if mode == "host":
            return
        # Where it is pinned: a container started by an older version has it in /run/netns.
        path = self.namespaces.locate(netns_name(cid)) or ""
        errors = []
        if mode != "none":
            mapped = [self._port(p) for p in (self.published(ports) if published is None else published)]
            steps: list[Callable[[], object]] = [
                lambda: self.links.unplug(path),
                lambda: self.ipam.release(cid, IFNAME),
            ]
            if mapped:
                steps.insert(0, lambda: self._exec("DEL", self._portmap(mapped), cid, path))
            for step in steps:
                try:
                    step()
                except RuntimeFailure as exc:
                    errors.append(str(exc))
        try:
            self.namespaces.delete(netns_name(cid))
        except RuntimeFailure as exc:
            errors.append(str(exc))
        if errors:
            raise RuntimeFailure("; ".join(errors))

    def published(self, ports: list[pb.PortMapping]) -> list[pb.PortMapping]:
        """The ports this container publishes on this host: not those of the routing mesh (ingress.py),
        unless the mesh is off here."""
        return [p for p in ports if p.host_port and (is_host(p) or not self.routing_mesh)]

    @staticmethod
    def _port(p: pb.PortMapping) -> dict[str, Any]:
        m: dict[str, Any] = {
            "hostPort": p.host_port,
            "containerPort": p.container_port,
            "protocol": p.protocol or "tcp",
        }
        if p.host_ip:
            m["hostIP"] = p.host_ip
        return m
