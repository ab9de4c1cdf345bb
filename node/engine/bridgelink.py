"""The node bridge's links, made in-process over netlink: what the CNI `bridge` plugin would do.

Rule: the same wiring as the plugin with the configuration network.py gave it (isGateway, hairpin,
no per-container masquerade), so a container attached by an older svc through the plugin is
detached here: the bridge with the gateway's address, up, and IPv4 forwarding on; per container a
veth pair, `eth0` made straight in the container's namespace with its address, up, and a default route
via the gateway, the host end a port of the bridge in hairpin mode (a container reaches its own
published port through the host), and eth0's MAC Docker's (02:42 and the address). Every step runs
in this process, no plugin process per container (two processes and ~12 ms per start before): the
bridge with pyroute2 (nlns.py) when it is missing or down, each container's links with raw requests
(rtnl.py). As the plugin at every ADD, each start checks that the bridge is there and up and that IPv4
forwarding is on, and puts back what is not (its address is checked when the bridge is made or
brought back up). Errors name the step.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import threading
from dataclasses import dataclass

from svc.errors import RuntimeFailure

from .nlns import iproute, link_index, netlink_errors, netlink_socket_in, ns_fd, sysctl_in
from .overlaypeers import mac_of
from .rtnl import IFF_UP, Rtnl

IFNAME = "eth0"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"  # the reader's network namespace's: the daemon's
# What adding a port to a bridge that is gone (or whose index is now another link's) answers.
STALE_MASTER = (errno.EINVAL, errno.ENODEV, errno.EOPNOTSUPP)

log = logging.getLogger(__name__)


def host_end(cid: str) -> str:
    return "vb" + cid[:12]  # 14 characters: under the kernel's 15


@dataclass(frozen=True)
class Plugged:
    host_end: str  # the veth's end in the host's namespace, a port of the bridge
    mac: str  # the container's eth0


class BridgeLinks:
    def __init__(self, bridge: str, gateway: ipaddress.IPv4Interface) -> None:
        self.bridge = bridge
        self.gateway = gateway
        self._lock = threading.Lock()

    def ensure_bridge(self, host: Rtnl) -> int:
        """The bridge's index, there and up, with forwarding on: the cheap check every start makes."""
        try:
            index, flags = host.link(self.bridge)
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                raise
            index, flags = 0, 0
        if not flags & IFF_UP:
            index = self._make_bridge()
        _forwarding_on()
        return index

    def _make_bridge(self) -> int:
        """Make the bridge, or check the one there (a bridge, with the gateway's address), and bring it up."""
        with self._lock, iproute() as host, netlink_errors(f"bridge {self.bridge}"):
            idx = link_index(host, self.bridge)
            if idx is None:
                host.link("add", ifname=self.bridge, kind="bridge")
                idx = link_index(host, self.bridge)
                if idx is None:
                    raise RuntimeFailure(f"bridge {self.bridge}: not there after it was made")
            kind = host.get_links(idx)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            if kind != "bridge":
                raise RuntimeFailure(f"{self.bridge} already exists and is not a bridge (it is {kind or 'a device'})")
            held = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in host.get_addr(index=idx, family=2)}
            if (str(self.gateway.ip), self.gateway.network.prefixlen) not in held:
                other = [f"{ip}/{n}" for ip, n in held]
                if other:
                    raise RuntimeFailure(
                        f"bridge {self.bridge} has {', '.join(other)}, not the gateway {self.gateway}: "
                        "another subnet is configured for it"
                    )
                host.addr("add", index=idx, address=str(self.gateway.ip), prefixlen=self.gateway.network.prefixlen)
            host.link("set", index=idx, state="up")
        return int(idx)

    def plug(self, cid: str, netns: str, address: ipaddress.IPv4Interface) -> Plugged:
        """Wire the container's namespace to the bridge."""
        end = host_end(cid)
        mac = mac_of(str(address.ip))
        raw_mac = bytes.fromhex(mac.replace(":", ""))
        with Rtnl() as host, ns_fd(netns) as target, netlink_errors(f"veth {end} on {self.bridge}"):
            host.delete_link(end)  # one from a start that stopped between this and its undo
            try:
                host.add_veth(end, self.ensure_bridge(host), IFNAME, target, raw_mac)
            except OSError as exc:  # the bridge went between the check and the add: once more
                if exc.errno not in STALE_MASTER:
                    raise
                host.delete_link(end)
                host.add_veth(end, self.ensure_bridge(host), IFNAME, target, raw_mac)
            host.set_hairpin(host.index_of(end))
        with Rtnl(netlink_socket_in(netns)) as ipc, netlink_errors(f"{IFNAME} of container {cid[:12]}"):
            idx = ipc.index_of(IFNAME)
            ipc.add_address(idx, address)
            ipc.set_up(idx)
            ipc.add_default_route(idx, self.gateway.ip)
        return Plugged(host_end=end, mac=mac)

    def unplug(self, netns: str | None) -> None:
        """Remove the container's veth pair (its eth0, whatever made it); none there is not an error.
        Done explicitly, not left to the namespace's removal: the kernel takes a namespace's links away
        later, and the address may be handed out again at once."""
        if not netns:
            return
        with Rtnl(netlink_socket_in(netns)) as ipc, netlink_errors(f"removing {IFNAME} in {netns}"):
            ipc.delete_link(IFNAME)


def _forwarding_on() -> None:
    with open(IP_FORWARD) as f:
        if f.read().strip() == "1":
            return
    log.info("turning IPv4 forwarding on, for the containers on the bridge")
    sysctl_in(None, "net.ipv4.ip_forward", "1")
