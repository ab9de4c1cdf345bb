"""The routing mesh's nftables tables (pure: a peer set in, rule text out).

Rule: a published port is DNATed twice. In the host's namespace (`ip svc_ingress`), a connection
to any local address on the port — from outside (prerouting) or from the host itself (output) —
goes to the ingress sandbox's end of its veth (SANDBOX_LINK), keeping the port; a connection from
the host's loopback is masqueraded, as the kernel will not route 127/8 out of it. In the sandbox
(the ingress network's namespace, `ip svc_ingress` too), a connection that came in over that veth
is balanced with `numgen inc` over the service's running, healthy tasks' ingress addresses on the
target port, and SNATed to this node's sandbox address, so the task answers back through this
node wherever it runs. A port without a task rejects at once. Both tables are replaced whole in
one `nft -f` transaction (the text is compared, so an unchanged set changes nothing).

Local first (beyond Swarm): when this node runs tasks of a port's service (`local`, their ingress
addresses here), the sandbox balances that port over those only and does not SNAT, so the task
sees the client's own address. Its replies come back the way the connection came because of the
task's own table (`task_ruleset`, in its namespace): a connection that arrives on its ingress
interface from outside the ingress subnet gets a conntrack mark, its packets the same packet mark,
and an `ip rule` sends that mark to a routing table whose default route is the ingress gateway
(this node's sandbox `br0`), where conntrack undoes both DNATs. Where no local task runs the
sandbox SNATs as before and the task sees this node's sandbox address. A UDP server that answers
from its wildcard socket with a plain `sendto` lets the kernel choose the answer's route and source
before any mark is set (by the main table: the task's default route, `eth0`), so for each UDP port
the task publishes through the mesh two more rules (`task_rules`) send what leaves that port to the
same table, unless the main table has a route more specific than its default one (the task's own
subnets): the answer leaves the ingress interface, from its address, and conntrack takes it for the
client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from svc.ports import is_host
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb

INGRESS_NAME = "ingress"  # the managers' routing-mesh network (a name no user network may take)
TABLE = "svc_ingress"
HOST_LINK, SANDBOX_LINK = "svcing0", "gw0"  # the veth between the host and the sandbox
HOST_LINK_ADDR, SANDBOX_LINK_ADDR, LINK_PREFIX = "169.254.88.1", "169.254.88.2", 30
BRIDGE = "br0"
MARK = 0x5356  # a task's connections that came in over the mesh (ct mark and packet mark)
RT_TABLE, RULE_PRIORITY = 0x5356, 1000  # in a task's namespace: its fwmark rule and its table
UDP_MAIN_PRIORITY, UDP_RETURN_PRIORITY = 1001, 1002  # and its published UDP ports' two rules
MAIN_TABLE, IPPROTO_UDP = 254, 17


@dataclass(frozen=True)
class Published:
    port: int
    protocol: str  # tcp or udp
    target: int
    backends: tuple[str, ...]  # task addresses on the ingress network, no prefix


def mesh_set(networks: list[dpb.NetworkPeers]) -> dpb.NetworkPeers | None:
    """The ingress set this node builds its mesh from, if any: one that names this node's sandbox
    address. The managers name it while any service publishes in ingress mode; an ingress set
    without one comes while the tasks of a service no longer published still stop on the network
    (they are its endpoints), which is transitional, not an error: no mesh (as with no set at all),
    and the network's namespace stays for those tasks until they are gone."""
    return next((n for n in networks if n.ingress and n.sandbox), None)


def published(net: dpb.NetworkPeers) -> list[Published]:
    """The ingress set's ports, each with its service's tasks (the first service wins a port)."""
    out: dict[tuple[int, str], Published] = {}
    for s in net.services:
        tasks = tuple(sorted({a.split("/", 1)[0] for a in s.task_addrs if a}, key=ipaddress.ip_address))
        for p in s.ports:
            key = (p.published, p.protocol or "tcp")
            if p.published and key not in out:
                out[key] = Published(p.published, key[1], p.target, tasks)
    return [out[k] for k in sorted(out)]


def _header() -> list[str]:
    return [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{"]


def host_ruleset(ports: list[Published]) -> str:
    lines = _header()
    for chain, hook in (("prerouting", "prerouting"), ("output", "output")):
        lines += [f"  chain {chain} {{", f"    type nat hook {hook} priority -100; policy accept;"]
        for proto in ("tcp", "udp"):
            nums = sorted(p.port for p in ports if p.protocol == proto)
            if nums:
                ports_text = ", ".join(str(n) for n in nums)
                lines.append(f"    fib daddr type local {proto} dport {{ {ports_text} }} dnat to {SANDBOX_LINK_ADDR}")
        lines.append("  }")
    lines += [
        "  chain postrouting {",
        "    type nat hook postrouting priority 100; policy accept;",
        f'    oifname "{HOST_LINK}" ip saddr 127.0.0.0/8 masquerade',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def sandbox_ruleset(ports: list[Published], sandbox: str, local: frozenset[str] = frozenset()) -> str:
    """`sandbox`: this node's address on the ingress network (a prefix is dropped); `local`: the
    ingress addresses of the tasks on this node (a port with any goes to those, unSNATed)."""
    me = sandbox.split("/", 1)[0]
    lines = _header()
    lines += ["  chain prerouting {", "    type nat hook prerouting priority -100; policy accept;"]
    kept: set[str] = set()  # local tasks that are some port's backends: never SNATed
    for p in ports:
        match = f'iifname "{SANDBOX_LINK}" {p.protocol} dport {p.port}'
        here = tuple(b for b in p.backends if b in local)
        kept.update(here)
        to = here or p.backends
        if not to:
            lines.append(f"    {match} reject" + (" with tcp reset" if p.protocol == "tcp" else ""))
        elif len(to) == 1:
            lines.append(f"    {match} dnat to {to[0]}:{p.target}")
        else:
            pairs = ", ".join(f"{i} : {a}" for i, a in enumerate(to))
            lines.append(f"    {match} dnat to numgen inc mod {len(to)} map {{ {pairs} }} : {p.target}")
    keep = ""
    if kept:
        keep = f" ip daddr != {{ {', '.join(sorted(kept, key=ipaddress.ip_address))} }}"
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority 100; policy accept;",
        f'    oifname "{BRIDGE}" ct status dnat{keep} snat to {me}',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def task_ruleset(ifname: str, subnet: str) -> str:
    """A task's own table: connections from outside the ingress `subnet` arriving on its ingress
    interface `ifname` are marked, and so is every packet of theirs (output: rerouted by the mark)."""
    lines = _header()
    lines += [
        "  chain prerouting {",
        "    type filter hook prerouting priority -150; policy accept;",
        f'    iifname "{ifname}" ip saddr != {subnet} ct state new ct mark set {MARK:#x}',
        f"    ct mark {MARK:#x} meta mark set ct mark",
        "  }",
        "  chain output {",
        "    type route hook output priority -150; policy accept;",
        f"    ct mark {MARK:#x} meta mark set ct mark",
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def udp_reply_ports(ports: Iterable[pb.PortMapping]) -> list[int]:
    """A task's UDP target ports published through the mesh, not also in host mode (an answer to a
    host-mode client must leave by the task's default route, the way that client came)."""
    udp = [p for p in ports if (p.protocol or "tcp") == "udp" and p.host_port]
    host = {p.container_port for p in udp if is_host(p)}
    return sorted({p.container_port for p in udp if not is_host(p)} - host)


def task_rules(udp_ports: Iterable[int] = ()) -> list[dict[str, Any]]:
    """A task's `ip rule`s, as pyroute2's keywords: the mark to its table; and for each UDP port,
    what leaves it to the main table without its default route (the task's own subnets), then to
    the mark's table (the ingress gateway)."""
    out: list[dict[str, Any]] = [{"priority": RULE_PRIORITY, "table": RT_TABLE, "fwmark": MARK}]
    for port in sorted(set(udp_ports)):
        sel = {"ip_proto": IPPROTO_UDP, "sport_range": f"{port}:{port}"}
        out.append({"priority": UDP_MAIN_PRIORITY, "table": MAIN_TABLE, "suppress_prefixlen": 0, **sel})
        out.append({"priority": UDP_RETURN_PRIORITY, "table": RT_TABLE, **sel})
    return out


def rule_key(rule: dict[str, Any]) -> tuple[int, int, str]:
    """What tells two of a task's rules apart: (priority, table, source ports or "")."""
    return rule["priority"], rule["table"], rule.get("sport_range", "")
