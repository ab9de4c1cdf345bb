"""A task's way back through the routing mesh, in its own namespace (local first, see ingressrules).

Rule: a container attached to the ingress network gets, beside its ingress interface, the table of
`ingressrules.task_ruleset` (connections from outside the ingress subnet arriving on that interface
are marked), an `ip rule` sending that mark to its own routing table (and, for each UDP port it
publishes through the mesh, the two rules that send a wildcard socket's answers there: `task_rules`),
and in that table one default route through the ingress gateway (this node's sandbox `br0`) on that
interface; and
`src_valid_mark` on it, so a host whose `rp_filter` is strict judges those packets by that route.
So a reply to a client whose connection the sandbox passed on unSNATed returns through the sandbox
and the host, which undo their DNATs, instead of leaving by the task's default route. Everything
here lives in the container's namespace and goes with it. `apply` may be repeated (a container a
restarted daemon adopts gets it again: one made before this existed would have no way back).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from socket import AF_INET

from svc.errors import RuntimeFailure

from . import ingressrules as rules
from . import vips
from .nlns import iproute, sysctl_in


def apply(container_ns: str, ifname: str, addr: str, gateway: str, udp_ports: Iterable[int] = ()) -> None:
    """`addr`: the task's ingress address with its prefix; `gateway`: the ingress network's;
    `udp_ports`: the task's UDP target ports published through the mesh (rules.udp_reply_ports)."""
    from pyroute2.netlink.exceptions import NetlinkError

    subnet = str(ipaddress.ip_interface(addr).network)
    vips.apply(container_ns, rules.task_ruleset(ifname, subnet))
    sysctl_in(container_ns, f"net.ipv4.conf.{ifname}.src_valid_mark", "1")
    try:
        with iproute(container_ns) as ipc:
            idx = ipc.link_lookup(ifname=ifname)[0]
            gw = str(ipaddress.ip_interface(gateway).ip)
            ipc.route("replace", dst="0.0.0.0/0", gateway=gw, oif=idx, table=rules.RT_TABLE)
            have = {
                (r.get_attr("FRA_PRIORITY"), r.get_attr("FRA_TABLE"), r.get_attr("FRA_SPORT_RANGE") or "")
                for r in ipc.get_rules(family=AF_INET)
            }
            for rule in rules.task_rules(udp_ports):
                if rules.rule_key(rule) not in have:
                    ipc.rule("add", **rule)
    except (NetlinkError, OSError, IndexError) as exc:
        raise RuntimeFailure(f"the mesh's return route on {ifname}: {exc}") from None
