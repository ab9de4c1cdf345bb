"""The routing mesh on this node: the ingress sandbox and the published ports' rules.

Layout: the ingress network's namespace (`ov-<VNI>`, made by overlay.py like any network's) is
also this node's ingress sandbox: `br0` carries, besides the network's gateway, the node's own
sandbox address (from the managers' ingress set) and the MAC derived from it, so other nodes'
tasks answer it over VXLAN like any endpoint; a veth `svcing0` (host, 169.254.88.1/30) ↔ `gw0`
(sandbox, 169.254.88.2/30) joins it to the host, with the sandbox's default route through it.
Then ingressrules' two tables: in the host, every published port → the sandbox; in the sandbox,
→ the service's tasks, SNATed to the sandbox address; or, where tasks of the service run on this
node, → those only and not SNATed (their way back: ingressreturn.py).

Rules: `apply` makes what is missing and replaces a table only when its text changed; every
step that fails leaves nothing of the sandbox made (`remove`). A task that leaves the rotation
takes its connections in the sandbox along (conntrack, as for VIPs). `remove` takes away what lives
in the host's namespace (the table, the veth, the FORWARD chain); what is in the sandbox goes with
its namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from typing import Any

from svc.errors import InvalidArgument, RuntimeFailure, SvcError
from svc.v1 import dispatcher_pb2 as dpb

from . import forwardrules, vips
from . import ingressrules as rules
from .nlns import iproute, link_index, netlink_errors, ns_fd, sysctl_in
from .overlaypeers import mac_of

log = logging.getLogger(__name__)


def _host_ns() -> str:
    return f"/proc/{os.getpid()}/ns/net"


class Ingress:
    def __init__(self) -> None:
        self.vni = 0  # the ingress network's, while this node has a sandbox
        self._path = ""
        self._sandbox = ""  # the sandbox address on br0 (CIDR)
        self._host_rules = ""
        self._sandbox_rules = ""
        self._backends: set[str] = set()  # task addresses in the sandbox's table

    @property
    def active(self) -> bool:
        return bool(self.vni)

    def tables(self) -> tuple[str, str]:
        """(the host's table, the sandbox's table) as last loaded."""
        return self._host_rules, self._sandbox_rules

    def apply(self, vni: int, path: str, net: dpb.NetworkPeers, local: frozenset[str] = frozenset()) -> None:
        """Make the sandbox in the network's namespace at `path` (if missing) and load the rules;
        `local`: the ingress addresses of this node's containers (their ports go to them first)."""
        if not net.sandbox:
            raise InvalidArgument("the ingress set names no sandbox address for this node")
        try:
            iface = ipaddress.ip_interface(net.sandbox)
        except ValueError:
            raise InvalidArgument(f"invalid sandbox address {net.sandbox!r}") from None
        try:
            if self.vni != vni or self._path != path:
                self.vni, self._path, self._sandbox = vni, path, ""
                self._host_rules = self._sandbox_rules = ""
                self._plumb(path)
            if self._sandbox != net.sandbox:
                self._address(path, iface, self._sandbox)
                self._sandbox = net.sandbox
            ports = rules.published(net)
            sandbox_text = rules.sandbox_ruleset(ports, net.sandbox, local)
            if sandbox_text != self._sandbox_rules:
                vips.apply(path, sandbox_text)
                self._sandbox_rules = sandbox_text
                self._forget(path, ports)
            host_text = rules.host_ruleset(ports)
            if host_text != self._host_rules:
                vips.apply(_host_ns(), host_text)
                self._host_rules = host_text
        except BaseException:
            try:
                self.remove()
            except SvcError as exc:
                log.warning("undoing the ingress sandbox: %s", exc)
            raise

    def _forget(self, path: str, ports: list[rules.Published]) -> None:
        """A task that left the rotation takes its connections in the sandbox along (as vips.forget)."""
        now = {b for p in ports for b in p.backends}
        gone = sorted(self._backends - now)
        self._backends = now
        try:
            if gone and vips.forget(path, [(rules.SANDBOX_LINK_ADDR, b) for b in gone]):
                log.debug("ingress: connections to removed tasks %s forgotten", gone)
        except SvcError as exc:
            log.warning("ingress: %s", exc)

    def _plumb(self, path: str) -> None:
        """The veth between the host and the sandbox, its addresses and routes, forwarding on."""
        with iproute() as host, ns_fd(path) as target, netlink_errors(f"veth {rules.HOST_LINK}"):
            stale = link_index(host, rules.HOST_LINK)
            if stale is not None:
                host.link("del", index=stale)
            peer = {"ifname": rules.SANDBOX_LINK, "net_ns_fd": target}
            host.link("add", ifname=rules.HOST_LINK, kind="veth", peer=peer)
            idx = link_index(host, rules.HOST_LINK)
            host.addr("add", index=idx, address=rules.HOST_LINK_ADDR, prefixlen=rules.LINK_PREFIX)
            host.link("set", index=idx, state="up")
        with iproute(path) as ipn, netlink_errors(f"{rules.SANDBOX_LINK} in the ingress sandbox"):
            idx = link_index(ipn, rules.SANDBOX_LINK)
            ipn.addr("add", index=idx, address=rules.SANDBOX_LINK_ADDR, prefixlen=rules.LINK_PREFIX)
            ipn.link("set", index=idx, state="up")
            ipn.route("replace", dst="0.0.0.0/0", gateway=rules.HOST_LINK_ADDR, oif=idx)
        forwardrules.ensure(forwardrules.chain_name(rules.HOST_LINK), forwardrules.link_rules(rules.HOST_LINK))
        sysctl_in(None, "net.ipv4.ip_forward", "1")
        sysctl_in(None, f"net.ipv4.conf.{rules.HOST_LINK}.route_localnet", "1")
        sysctl_in(path, "net.ipv4.ip_forward", "1")

    @staticmethod
    def _address(path: str, iface: Any, old: str) -> None:
        """br0: the sandbox address beside the gateway, and its MAC (other nodes' entries name it)."""
        with iproute(path) as ipn, netlink_errors("the sandbox address on br0"):
            br = link_index(ipn, rules.BRIDGE)
            if br is None:
                raise RuntimeFailure("the ingress network's namespace has no br0")
            if old:
                was = ipaddress.ip_interface(old)
                with contextlib.suppress(Exception):
                    ipn.addr("del", index=br, address=str(was.ip), prefixlen=was.network.prefixlen)
            ipn.link("set", index=br, address=mac_of(str(iface)))
            ipn.addr("replace", index=br, address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def remove(self) -> None:
        """The host's side: its table and the veth (its sandbox end goes too). Safe to repeat."""
        errors = []
        try:
            vips.apply(_host_ns(), f"table ip {rules.TABLE}\ndelete table ip {rules.TABLE}\n")
        except SvcError as exc:
            errors.append(str(exc))
        try:
            forwardrules.remove(forwardrules.chain_name(rules.HOST_LINK))
        except SvcError as exc:
            errors.append(str(exc))
        try:
            with iproute() as host, netlink_errors(f"removing {rules.HOST_LINK}"):
                idx = link_index(host, rules.HOST_LINK)
                if idx is not None:
                    host.link("del", index=idx)
        except SvcError as exc:
            errors.append(str(exc))
        self.vni, self._path, self._sandbox, self._host_rules, self._sandbox_rules = 0, "", "", "", ""
        if errors:
            raise RuntimeFailure("; ".join(errors))
