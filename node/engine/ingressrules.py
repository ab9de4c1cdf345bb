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
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from svc.v1 import dispatcher_pb2 as dpb

INGRESS_NAME = "ingress"  # the managers' routing-mesh network (a name no user network may take)
TABLE = "svc_ingress"
HOST_LINK, SANDBOX_LINK = "svcing0", "gw0"  # the veth between the host and the sandbox
HOST_LINK_ADDR, SANDBOX_LINK_ADDR, LINK_PREFIX = "169.254.88.1", "169.254.88.2", 30
BRIDGE = "br0"


@dataclass(frozen=True)
class Published:
    port: int
    protocol: str  # tcp or udp
    target: int
    backends: tuple[str, ...]  # task addresses on the ingress network, no prefix


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


def sandbox_ruleset(ports: list[Published], sandbox: str) -> str:
    """`sandbox`: this node's address on the ingress network (a prefix is dropped)."""
    me = sandbox.split("/", 1)[0]
    lines = _header()
    lines += ["  chain prerouting {", "    type nat hook prerouting priority -100; policy accept;"]
    for p in ports:
        match = f'iifname "{SANDBOX_LINK}" {p.protocol} dport {p.port}'
        if not p.backends:
            lines.append(f"    {match} reject" + (" with tcp reset" if p.protocol == "tcp" else ""))
        elif len(p.backends) == 1:
            lines.append(f"    {match} dnat to {p.backends[0]}:{p.target}")
        else:
            pairs = ", ".join(f"{i} : {a}" for i, a in enumerate(p.backends))
            lines.append(f"    {match} dnat to numgen inc mod {len(p.backends)} map {{ {pairs} }} : {p.target}")
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority 100; policy accept;",
        f'    oifname "{BRIDGE}" ct status dnat snat to {me}',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)
