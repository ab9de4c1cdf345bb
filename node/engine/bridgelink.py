"""The node bridge's links, made in-process over netlink: what the CNI `bridge` plugin would do.

Rule: the same wiring as the plugin with the configuration network.py gave it (isGateway, hairpin,
no per-container masquerade), so a container attached by an older svc through the plugin is
detached here: the bridge with the gateway's address, up, and IPv4 forwarding on; per container a
veth pair, `eth0` made straight in the container's namespace with its address, up, and a default route
via the gateway, the host end a port of the bridge in hairpin mode (a container reaches its own
published port through the host), and eth0's MAC Docker's (02:42 and the address). Every step runs
in this process, no plugin process per container (two processes and ~12 ms per start before): the
bridge once with pyroute2 (nlns.py), each container's links with raw requests (rtnl.py). Errors
name the step.
"""

from __future__ import annotations

import ipaddress
import threading

from svc.errors import RuntimeFailure

from .nlns import iproute, link_index, netlink_errors, netlink_socket_in, ns_fd, sysctl_in
from .overlaypeers import mac_of
from .rtnl import Rtnl

IFNAME = "eth0"


def host_end(cid: str) -> str:
    return "vb" + cid[:12]  # 14 characters: under the kernel's 15


class BridgeLinks:
    def __init__(self, bridge: str, gateway: ipaddress.IPv4Interface) -> None:
        self.bridge = bridge
        self.gateway = gateway
        self._index: int | None = None  # the bridge's, once made or checked
        self._lock = threading.Lock()

    def ensure_bridge(self, again: bool = False) -> int:
        """The bridge's index; made, addressed and up the first time (`again`: someone removed it)."""
        if self._index is not None and not again:
            return self._index
        with self._lock, iproute() as host, netlink_errors(f"bridge {self.bridge}"):
            idx = link_index(host, self.bridge)
            if idx is None:
                host.link("add", ifname=self.bridge, kind="bridge")
                idx = link_index(host, self.bridge)
                if idx is None:
                    raise RuntimeFailure(f"bridge {self.bridge}: not there after it was made")
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
        sysctl_in(None, "net.ipv4.ip_forward", "1")
        self._index = idx
        return idx

    def plug(self, cid: str, netns: str, address: ipaddress.IPv4Interface) -> dict[str, str]:
        """Wire the container's namespace to the bridge; the interfaces made, as names and MACs."""
        end = host_end(cid)
        mac = mac_of(str(address.ip))
        with Rtnl() as host, ns_fd(netns) as target, netlink_errors(f"veth {end} on {self.bridge}"):
            host.delete_link(end)  # one from a start that stopped between this and its undo
            raw_mac = bytes.fromhex(mac.replace(":", ""))
            try:
                host.add_veth(end, self.ensure_bridge(), IFNAME, target, raw_mac)
            except OSError:  # the bridge removed since (an index is not reused at once): make it again
                host.delete_link(end)
                host.add_veth(end, self.ensure_bridge(again=True), IFNAME, target, raw_mac)
            host.set_hairpin(host.index_of(end))
        with Rtnl(netlink_socket_in(netns)) as ipc, netlink_errors(f"{IFNAME} of container {cid[:12]}"):
            idx = ipc.index_of(IFNAME)
            ipc.add_address(idx, address)
            ipc.set_up(idx)
            ipc.add_default_route(idx, self.gateway.ip)
        return {"host_end": end, "mac": mac}

    def unplug(self, netns: str | None) -> None:
        """Remove the container's veth pair (its eth0, whatever made it); none there is not an error.
        Done explicitly, not left to the namespace's removal: the kernel takes a namespace's links away
        later, and the address may be handed out again at once."""
        if not netns:
            return
        with Rtnl(netlink_socket_in(netns)) as ipc, netlink_errors(f"removing {IFNAME} in {netns}"):
            ipc.delete_link(IFNAME)
