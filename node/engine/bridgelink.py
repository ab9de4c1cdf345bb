"""The node bridge's links, made in-process over netlink: what the CNI `bridge` plugin would do.

Rule: the same wiring as the plugin with the configuration network.py gave it (isGateway, hairpin,
no per-container masquerade), so a container attached by an older svc through the plugin is
detached here: the bridge with the gateway's address, up, and IPv4 forwarding on; per container a
veth pair, `eth0` made straight in the container's namespace with its address, up, and a default route
via the gateway, the host end a port of the bridge in hairpin mode (a container reaches its own
published port through the host). Every step runs in this process (pyroute2, nlns.py), no plugin
process per container: two processes and ~12 ms per start before. Errors name the step.
"""

from __future__ import annotations

import ipaddress
import threading

from svc.errors import RuntimeFailure

from .nlns import iproute, link_index, netlink_errors, ns_fd, sysctl_in

IFNAME = "eth0"
HAIRPIN = 1  # IFLA_BRPORT_MODE


def host_end(cid: str) -> str:
    return "vb" + cid[:12]  # 14 characters: under the kernel's 15


class BridgeLinks:
    def __init__(self, bridge: str, gateway: ipaddress.IPv4Interface) -> None:
        self.bridge = bridge
        self.gateway = gateway
        self._ready = False
        self._lock = threading.Lock()

    def ensure_bridge(self) -> int:
        """The bridge's index; made, addressed and up the first time (and again if someone removed it)."""
        with self._lock, iproute() as host, netlink_errors(f"bridge {self.bridge}"):
            idx = link_index(host, self.bridge)
            if idx is not None and self._ready:
                return idx
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
        self._ready = True
        return idx

    def plug(self, cid: str, netns: str, address: ipaddress.IPv4Interface) -> dict[str, str]:
        """Wire the container's namespace to the bridge; the interfaces made, as names and MACs."""
        bridge = self.ensure_bridge()
        end = host_end(cid)
        with iproute() as host, ns_fd(netns) as target, netlink_errors(f"veth {end} on {self.bridge}"):
            stale = link_index(host, end)
            if stale is not None:  # from a start that stopped between this and its undo
                host.link("del", index=stale)
            host.link("add", ifname=end, kind="veth", peer={"ifname": IFNAME, "net_ns_fd": target})
            idx = link_index(host, end)
            host.link("set", index=idx, master=bridge)
            host.brport("set", index=idx, mode=HAIRPIN)
            host.link("set", index=idx, state="up")
            host_mac = host.get_links(idx)[0].get_attr("IFLA_ADDRESS")
        with iproute(netns) as ipc, netlink_errors(f"{IFNAME} of container {cid[:12]}"):
            idx = link_index(ipc, IFNAME)
            ipc.addr("add", index=idx, address=str(address.ip), prefixlen=address.network.prefixlen)
            ipc.link("set", index=idx, state="up")
            ipc.route("add", dst="0.0.0.0/0", gateway=str(self.gateway.ip), oif=idx)
            mac = ipc.get_links(idx)[0].get_attr("IFLA_ADDRESS")
        return {"host_end": end, "host_mac": host_mac, "mac": mac}

    def unplug(self, netns: str | None) -> None:
        """Remove the container's veth pair (its eth0, whatever made it); none there is not an error.
        Done explicitly, not left to the namespace's removal: the kernel takes a namespace's links away
        later, and the address may be handed out again at once."""
        if not netns:
            return
        with iproute(netns) as ipc, netlink_errors(f"removing {IFNAME} in {netns}"):
            idx = link_index(ipc, IFNAME)
            if idx is not None:
                ipc.link("del", index=idx)
