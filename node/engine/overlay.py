"""Overlay networks on this node: a namespace per network, with a bridge and a VXLAN device.

Layout (as Swarm's): the namespace `ov-<VNI>` (pinned beside the containers' namespaces, see
netns.py) holds `br0` (the network's gateway address, MTU 1450) and `vxlan0` (VNI, UDP 4789,
local = the node's VTEP address, nolearning, proxy, MTU 1450), a port of br0. The VXLAN device
is made in the host's namespace and moved in, so its UDP socket stays in the host's namespace.
A container on the network gets a veth pair: `ethN` in its own namespace (the task's address
and the MAC derived from it) and `ve<id12>` on br0, a DNS server at 127.0.0.11 (dns.py) and a
VIP table in its namespace (vips.py), both following the peer sets. The ingress network's
namespace is also the node's routing-mesh sandbox (ingress.py); it gives no names and no VIPs.
With the mesh off (`svcd node --no-routing-mesh`) the ingress set and attachments are ignored.

Rules: the peer set comes whole (`set_networks`) and is reconciled against a dump of the
device (overlaypeers.diff), never applied as deltas. A network namespace that neither the
peer set nor a container on this node uses is removed with everything in it. Every step that
fails undoes what it made: no namespace, link or entry is left half-made. One lock serialises
all of it (a few netlink calls per change). All netlink goes through nlns (no fork).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from svc.errors import InvalidArgument, RuntimeFailure, SvcError
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb

from . import ingressreturn, vips
from . import overlaypeers as peers
from .dns import Resolver
from .ingress import Ingress
from .ingressrules import INGRESS_NAME, mesh_set, udp_reply_ports
from .netns import Namespaces
from .nlns import iproute, link_index, netlink_errors, ns_fd, sysctl_in

log = logging.getLogger(__name__)

NS_PREFIX = "ov-"
BRIDGE, VXLAN = "br0", "vxlan0"
MTU = 1450  # 1500 less the VXLAN encapsulation (50 bytes)
# Where the kernel has bridge netfilter (always on a Docker host), a new namespace starts with its
# bridged frames passed through iptables; nothing of ours filters bridged frames in an overlay's
# namespace, and the hook alone cost the overlay ~12 points of the plain path's throughput.
BRIDGE_NETFILTER = (
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
)
VXLAN_PORT = 4789
NUD_PERMANENT = 0x80


def ns_name(vni: int) -> str:
    return f"{NS_PREFIX}{vni}"


def veth_name(cid: str) -> str:
    return "ve" + cid[:12]


def _host_tmp_name(vni: int) -> str:
    return f"svx{vni}"  # the VXLAN device's name in the host's namespace, before it moves


def _no_bridge_netfilter(path: str) -> None:
    """Bridged frames in the namespace at `path` skip netfilter, where the kernel has bridge netfilter
    (its routed and locally delivered packets, the mesh's NAT among them, still pass the IP hooks)."""
    for key in BRIDGE_NETFILTER:
        if os.path.exists("/proc/sys/" + key.replace(".", "/")):
            try:
                sysctl_in(path, key, "0")
            except RuntimeFailure as exc:  # a kernel before 5.3 has them for the host only: speed, not a failure
                log.debug("network namespace %s: %s", path, exc)
                return


def _host_vxlan(host: Any, vni: int, vtep: str) -> int:
    """Make network `vni`'s VXLAN device in the host's namespace; its index.

    The kernel allows one device per id and UDP port made from a namespace, wherever it lives now:
    a device another driver made (dockerd's swarm numbers its networks from 4096 too), or one in a
    namespace something still holds, refuses ours with EEXIST, which is named here, not "File exists".
    """
    from pyroute2.netlink.exceptions import NetlinkError

    tmp = _host_tmp_name(vni)
    stale = link_index(host, tmp)
    if stale is not None:  # ours, from a start that stopped before the move
        host.link("del", index=stale)
    opts: dict[str, Any] = {"vxlan_id": vni, "vxlan_port": VXLAN_PORT, "vxlan_learning": 0}
    if vtep:
        opts["vxlan_local"] = vtep
    try:
        host.link("add", ifname=tmp, kind="vxlan", vxlan_proxy=1, mtu=MTU, **opts)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise
        holder = _holder(host, vni)
        raise RuntimeFailure(f"VXLAN id {vni} (UDP {VXLAN_PORT}) is already taken on this host by {holder}") from None
    return link_index(host, tmp)  # type: ignore[return-value]


def _holder(host: Any, vni: int) -> str:
    for link in host.get_links():
        info = link.get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan":
            continue
        data = info.get_attr("IFLA_INFO_DATA")
        if data is not None and (data.get_attr("IFLA_VXLAN_ID"), data.get_attr("IFLA_VXLAN_PORT")) == (vni, VXLAN_PORT):
            return f"the device {link.get_attr('IFLA_IFNAME')}"
    return "a device in another network namespace (another overlay driver, or a namespace something still holds)"


class Overlays:
    def __init__(self, namespaces: Namespaces, vtep: str = "", mesh: bool = True) -> None:
        self.namespaces = namespaces
        self.vtep = vtep  # this node's VXLAN source address; "" lets the kernel choose by route
        self.mesh = mesh  # the routing mesh: the ingress sandbox and its rules on this node
        self.ingress = Ingress()
        self._lock = threading.RLock()
        self._peers: dict[int, dpb.NetworkPeers] = {}
        self._users: dict[int, dict[str, str]] = {}  # vni -> container id -> its address there
        self.dns = Resolver()
        self._containers: dict[str, tuple[str, list[str]]] = {}  # id -> (its namespace, its network ids)
        self._vip_rules: dict[str, str] = {}  # id -> the VIP table last loaded in its namespace
        self._vip_backends: dict[str, dict[str, tuple[str, ...]]] = {}  # id -> VIP -> backends loaded
        self._programmed: dict[int, int] = {}  # vni -> remote endpoints programmed at the last reconcile
        self._quiet: set[int] = set()  # networks whose namespace has bridge netfilter off

    # ----- the peer set -----

    def set_networks(self, networks: list[dpb.NetworkPeers]) -> None:
        """Make this node's networks and entries what `networks` says; remove networks nobody uses."""
        networks = [n for n in networks if self.mesh or not n.ingress]
        for n in networks:
            peers.check_vni(n.vni)
        errors = []
        mesh = mesh_set(networks)
        with self._lock:
            self._peers = {n.vni: n for n in networks}
            self.dns.set_networks([n for n in networks if not n.ingress])
            for n in networks:
                try:
                    self._ensure(n.vni, n.subnet, n.gateway)
                    self._reconcile(n.vni)
                    if n is mesh:
                        local = frozenset(self._users.get(n.vni, {}).values())  # local first
                        self.ingress.apply(n.vni, self.namespaces.path_of(ns_name(n.vni)), n, local)
                except SvcError as exc:
                    errors.append(f"network {n.name or n.vni}: {exc}")
            if self.ingress.active and (mesh is None or mesh.vni != self.ingress.vni):
                try:
                    self.ingress.remove()  # no service publishes any more: no port, no veth
                    log.info("the routing mesh: removed (no service publishes in ingress mode)")
                except SvcError as exc:
                    errors.append(f"the routing mesh: {exc}")
            for cid in list(self._containers):
                try:
                    self._apply_vips(cid)
                except SvcError as exc:
                    errors.append(f"virtual IPs of container {cid[:12]}: {exc}")
            errors += self._collect()
        if errors:
            raise RuntimeFailure("; ".join(errors))

    def networks(self) -> list[int]:
        """The VNIs that have a namespace on this node."""
        try:
            names = os.listdir(self.namespaces.dir.path)
        except FileNotFoundError:
            return []
        return sorted(int(n[len(NS_PREFIX) :]) for n in names if n.startswith(NS_PREFIX) and n[3:].isdigit())

    def stats(self) -> tuple[dict[str, tuple[int, int]], dict[tuple[str, str], int]]:
        """For metrics, without netlink: per network name (local endpoints, remote peers programmed),
        and per (service, network) the VIP's backends."""
        with self._lock:
            nets = {}
            for vni in self.networks():
                net = self._peers.get(vni)
                name = net.name if net and net.name else str(vni)
                nets[name] = (len(self._users.get(vni, {})), self._programmed.get(vni, 0))
            vips = {
                (s.name, n.name): len(s.task_addrs)
                for n in self._peers.values()
                for s in n.services
                if s.vip and s.endpoint_mode != "dnsrr"
            }
        return nets, vips

    def entries(self, vni: int) -> peers.Entries:
        """What the network's VXLAN device holds now (static FDB and permanent neighbour entries)."""
        path = self.namespaces.path_of(ns_name(vni))
        with self._lock, iproute(path) as ipn, netlink_errors(f"reading {ns_name(vni)}"):
            return self._dump(ipn, self._vxlan(ipn, vni))

    # ----- containers -----

    def attach(
        self, cid: str, container_ns: str, attachments: list[pb.NetworkAttachment], ports: Sequence[pb.PortMapping] = ()
    ) -> None:
        """A veth into each network's namespace; on failure every one made is removed again.
        `ports`: the container's (its UDP ports through the mesh need their way back)."""
        if not self.mesh:
            attachments = [a for a in attachments if a.network_name != INGRESS_NAME]
        named = [a.network_id for a in attachments if a.network_name != INGRESS_NAME]  # names, VIPs
        with self._lock:
            try:
                for i, a in enumerate(attachments):
                    self._attach_one(cid, container_ns, f"eth{i + 1}", a, ports)
                if attachments and all(a.internal for a in attachments):
                    self._no_way_out(cid, container_ns)
                self.dns.add(cid, container_ns, named)
                self._containers[cid] = (container_ns, named)
                self._apply_vips(cid)
            except BaseException:
                try:
                    self.detach(cid, attachments)
                except SvcError as exc:
                    log.warning("undoing the overlay attachments of %s: %s", cid[:12], exc)
                raise

    def _attach_one(
        self, cid: str, container_ns: str, ifname: str, a: pb.NetworkAttachment, ports: Sequence[pb.PortMapping]
    ) -> None:
        peers.check_vni(a.vni)
        try:
            iface = ipaddress.ip_interface(a.addr)
        except ValueError:
            raise InvalidArgument(f"network {a.network_name or a.vni}: invalid address {a.addr!r}") from None
        mac = peers.mac_of(a.addr)
        self._ensure(a.vni, str(iface.network), a.gateway)
        self._users.setdefault(a.vni, {})[cid] = str(iface.ip)
        path = self.namespaces.path_of(ns_name(a.vni))
        host_end = veth_name(cid)
        what = f"veth {host_end} on {ns_name(a.vni)}"
        with iproute(path) as ipn, ns_fd(container_ns) as target, netlink_errors(what):
            stale = link_index(ipn, host_end)
            if stale is not None:
                ipn.link("del", index=stale)
            peer = {"ifname": ifname, "net_ns_fd": target, "address": mac, "mtu": MTU}
            ipn.link("add", ifname=host_end, kind="veth", mtu=MTU, peer=peer)
            ipn.link("set", index=link_index(ipn, host_end), master=link_index(ipn, BRIDGE), state="up")
        with iproute(container_ns) as ipc, netlink_errors(f"{ifname} of container {cid[:12]}"):
            idx = link_index(ipc, ifname)
            ipc.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ipc.link("set", index=idx, state="up")
        if a.network_name == INGRESS_NAME:
            udp = udp_reply_ports(ports)
            ingressreturn.apply(container_ns, ifname, a.addr, a.gateway, udp)  # replies back through the mesh
        if a.vni in self._peers:
            self._reconcile(a.vni)  # this container's own address is local now, never a remote entry

    @staticmethod
    def _no_way_out(cid: str, container_ns: str) -> None:
        """Only on --internal networks: no default route (Docker's rule: egress needs one network
        that is not internal); the node bridge's eth0 stays for the container's own address."""
        with iproute(container_ns) as ipc, netlink_errors(f"removing the default route of container {cid[:12]}"):
            for r in ipc.get_default_routes(family=socket.AF_INET):
                ipc.route("del", dst="0.0.0.0/0", gateway=r.get("RTA_GATEWAY"), oif=r.get("RTA_OIF"))

    def detach(self, cid: str, attachments: list[pb.NetworkAttachment]) -> None:
        """Remove the container's veths; then any network namespace left unused. Safe to repeat."""
        errors = []
        self.dns.remove(cid)  # its socket holds the container's namespace
        with self._lock:
            self._containers.pop(cid, None)  # its VIP table goes with its namespace
            self._vip_rules.pop(cid, None)
            self._vip_backends.pop(cid, None)
            for a in attachments:
                self._users.get(a.vni, {}).pop(cid, None)
                path = self.namespaces.locate(ns_name(a.vni))
                if path is None:
                    continue
                try:
                    with iproute(path) as ipn, netlink_errors(f"removing {veth_name(cid)} from {ns_name(a.vni)}"):
                        idx = link_index(ipn, veth_name(cid))
                        if idx is not None:
                            ipn.link("del", index=idx)
                except SvcError as exc:
                    errors.append(str(exc))
            errors += self._collect()
        if errors:
            raise RuntimeFailure("; ".join(errors))

    def adopt(
        self,
        cid: str,
        container_ns: str | None,
        attachments: list[pb.NetworkAttachment],
        ports: Sequence[pb.PortMapping] = (),
    ) -> None:
        """A running container found at restart: its networks are in use, its DNS server is served again."""
        with self._lock:
            for a in attachments:
                with contextlib.suppress(SvcError):
                    self._users.setdefault(a.vni, {})[cid] = peers.host_ip(a.addr)
        if container_ns and self.mesh:
            for i, a in enumerate(attachments):
                if a.network_name == INGRESS_NAME:
                    try:  # its way back through the mesh, which an older daemon did not make
                        ingressreturn.apply(container_ns, f"eth{i + 1}", a.addr, a.gateway, udp_reply_ports(ports))
                    except SvcError as exc:
                        log.warning("container %s: %s", cid[:12], exc)
        if container_ns:
            named = [a.network_id for a in attachments if a.network_name != INGRESS_NAME]
            with self._lock:
                self._containers[cid] = (container_ns, named)
            try:
                self.dns.add(cid, container_ns, named)
            except SvcError as exc:
                log.warning("%s", exc)

    def close(self) -> None:
        self.dns.close()

    # ----- the namespace and its devices -----

    def _ensure(self, vni: int, subnet: str, gateway: str) -> None:
        name = ns_name(vni)
        path = self.namespaces.locate(name)
        if path is not None:
            complete = False
            try:
                with iproute(path) as ipn:
                    if link_index(ipn, VXLAN) is not None and link_index(ipn, BRIDGE) is not None:
                        complete = True
            except SvcError:
                pass
            if complete:
                if vni not in self._quiet:  # once per process: also a namespace an older svcd made
                    _no_bridge_netfilter(path)
                    self._quiet.add(vni)
                return
            log.warning("network namespace %s is incomplete: making it again", name)
            self._destroy(vni)
        path = self.namespaces.create(name)
        try:
            _no_bridge_netfilter(path)
            self._quiet.add(vni)
            with iproute(path) as ipn, netlink_errors(f"bridge in {name}"):
                ipn.link("add", ifname=BRIDGE, kind="bridge", mtu=MTU)
                br = link_index(ipn, BRIDGE)
                if gateway and subnet:
                    prefix = ipaddress.ip_network(subnet, strict=False).prefixlen
                    ipn.addr("add", index=br, address=gateway, prefixlen=prefix)
                ipn.link("set", index=br, state="up")
            tmp = _host_tmp_name(vni)
            with iproute() as host, netlink_errors(f"VXLAN {vni} in the host's namespace"):
                idx = _host_vxlan(host, vni, self.vtep)
                try:
                    with ns_fd(path) as fd:
                        host.link("set", index=idx, net_ns_fd=fd)
                except BaseException:
                    host.link("del", index=idx)
                    raise
            with iproute(path) as ipn, netlink_errors(f"VXLAN {vni} in {name}"):
                ipn.link("set", index=link_index(ipn, tmp), ifname=VXLAN, master=link_index(ipn, BRIDGE), state="up")
        except BaseException:
            try:
                self._destroy(vni)
            except SvcError as exc:
                log.warning("cleaning up %s: %s", name, exc)
            raise
        log.info("overlay network %d: namespace %s made", vni, name)

    def _destroy(self, vni: int) -> None:
        """The devices first (the VXLAN's UDP socket is freed now, not when the kernel gets to the
        namespace), then the namespace."""
        name = ns_name(vni)
        self._quiet.discard(vni)
        if vni == self.ingress.vni:
            try:
                self.ingress.remove()
            except SvcError as exc:
                log.warning("%s", exc)
        path = self.namespaces.locate(name)
        if path is not None:
            try:
                with iproute(path) as ipn, netlink_errors(f"removing the devices of {name}"):
                    for dev in (VXLAN, BRIDGE):
                        idx = link_index(ipn, dev)
                        if idx is not None:
                            ipn.link("del", index=idx)
            except SvcError as exc:
                log.warning("%s", exc)
        self.namespaces.delete(name)
        log.info("overlay network %d: namespace %s removed", vni, name)

    def collect(self) -> None:
        """At start-up, after running containers were adopted: a network namespace none of them uses
        (its containers ended while the daemon was down) goes; the peer set brings back what is needed."""
        with self._lock:
            for problem in self._collect():
                log.warning("%s", problem)
            if self.mesh:
                try:  # what a daemon that stopped left in the host's namespace; the first set makes it again
                    self.ingress.remove()
                except SvcError as exc:
                    log.warning("the routing mesh: %s", exc)

    def _collect(self) -> list[str]:
        """Remove the namespaces of networks neither the peer set nor a container here uses."""
        errors = []
        for vni in self.networks():
            if vni in self._peers or self._users.get(vni):
                continue
            try:
                self._destroy(vni)
            except SvcError as exc:
                errors.append(str(exc))
        for vni in [v for v, u in self._users.items() if not u]:
            del self._users[vni]
        return errors

    # ----- virtual IPs -----

    def _apply_vips(self, cid: str) -> None:
        container_ns, ids = self._containers[cid]
        by_id = {n.network_id: n for n in self._peers.values()}
        backends = vips.backends(by_id[i] for i in ids if i in by_id)
        text = vips.ruleset(backends)
        if self._vip_rules.get(cid) != text:
            vips.apply(container_ns, text)
            self._vip_rules[cid] = text
            gone = vips.removed(self._vip_backends.get(cid, {}), backends)
            self._vip_backends[cid] = backends
            try:
                if vips.forget(container_ns, gone):
                    log.debug("container %s: connections to removed backends %s forgotten", cid[:12], gone)
            except SvcError as exc:
                log.warning("container %s: %s", cid[:12], exc)

    def vip_rules(self, cid: str) -> str:
        with self._lock:
            return self._vip_rules.get(cid, "")

    # ----- entries -----

    def _vxlan(self, ipn: Any, vni: int) -> int:
        idx = link_index(ipn, VXLAN)
        if idx is None:
            raise RuntimeFailure(f"network namespace {ns_name(vni)} has no {VXLAN}")
        return idx

    @staticmethod
    def _dump(ipn: Any, vx: int) -> peers.Entries:
        fdb = set()
        for m in ipn.fdb("dump", ifindex=vx):
            mac, dst = m.get("NDA_LLADDR"), m.get("NDA_DST")
            if m["ifindex"] == vx and mac and dst:
                fdb.add(peers.Fdb(mac.lower(), dst))
        neigh = set()
        for m in ipn.get_neighbours(family=socket.AF_INET, ifindex=vx):
            ip, mac = m.get("NDA_DST"), m.get("NDA_LLADDR")
            if m["ifindex"] == vx and m["state"] & NUD_PERMANENT and ip and mac:
                neigh.add(peers.Neigh(ip, mac.lower()))
        return peers.Entries(frozenset(fdb), frozenset(neigh))

    def _reconcile(self, vni: int) -> None:
        """Dump, diff, apply: the device ends up holding exactly the remote endpoints of the peer set."""
        net = self._peers.get(vni)
        endpoints = [(e.addr, e.mac, e.node_addr) for e in net.endpoints] if net else []
        want = peers.wanted(endpoints, self.vtep, self._users.get(vni, {}).values())
        name = ns_name(vni)
        with iproute(self.namespaces.path_of(name)) as ipn, netlink_errors(f"entries of {name}"):
            vx = self._vxlan(ipn, vni)
            change = peers.diff(self._dump(ipn, vx), want)
            for n in change.del_neigh:
                ipn.neigh("del", dst=n.ip, lladdr=n.mac, ifindex=vx)
            for f in change.del_fdb:
                ipn.fdb("del", ifindex=vx, lladdr=f.mac, dst=f.vtep)
            for f in change.add_fdb:
                ipn.fdb("add", ifindex=vx, lladdr=f.mac, dst=f.vtep)
            for n in change.add_neigh:
                ipn.neigh("add", dst=n.ip, lladdr=n.mac, ifindex=vx, state=NUD_PERMANENT)
        self._programmed[vni] = len(want.fdb)
        if not change.empty:
            log.debug(
                "network %d: +%d/-%d forwarding, +%d/-%d neighbour entries",
                vni,
                len(change.add_fdb),
                len(change.del_fdb),
                len(change.add_neigh),
                len(change.del_neigh),
            )
