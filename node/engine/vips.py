"""Virtual IPs: connections to a service's VIP balanced over its tasks, with nftables, per container.

Rule: every container on an overlay network has one table (`ip svc_vip`) in its own namespace,
whose nat output chain DNATs each VIP of its networks to `numgen inc mod N` over the service's
task addresses (a VIP without a task rejects, so a client fails at once instead of timing out).
The whole table is replaced in one `nft -f` transaction (add, delete, define), so a change is
atomic and nothing stale survives it; it is only re-applied when its text changed. It goes with
the container's namespace. A backend that leaves a VIP takes its conntrack entries in the container
along (`forget`), so an established flow does not keep reaching a task that is gone. `ruleset` and
`removed` are pure.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterable

from svc.errors import RuntimeFailure
from svc.v1 import dispatcher_pb2 as dpb

TABLE = "svc_vip"


def _ip(addr: str) -> str:
    try:
        return str(ipaddress.ip_interface(addr).ip)
    except ValueError:
        return ""


def backends(networks: Iterable[dpb.NetworkPeers]) -> dict[str, tuple[str, ...]]:
    """VIP -> its tasks' addresses, over the services of `networks` (dnsrr services have no VIP)."""
    out: dict[str, tuple[str, ...]] = {}
    for net in networks:
        for s in net.services:
            vip = _ip(s.vip)
            if not vip or s.endpoint_mode == "dnsrr":
                continue
            tasks = sorted({a for a in (_ip(x) for x in s.task_addrs) if a}, key=ipaddress.ip_address)
            out.setdefault(vip, tuple(tasks))
    return out


def ruleset(vips: dict[str, tuple[str, ...]]) -> str:
    lines = [
        f"table ip {TABLE}",
        f"delete table ip {TABLE}",
        f"table ip {TABLE} {{",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
    ]
    for vip in sorted(vips, key=ipaddress.ip_address):
        tasks = vips[vip]
        if not tasks:
            lines.append(f"    ip daddr {vip} reject")
        elif len(tasks) == 1:
            lines.append(f"    ip daddr {vip} dnat to {tasks[0]}")
        else:
            pairs = ", ".join(f"{i} : {a}" for i, a in enumerate(tasks))
            lines.append(f"    ip daddr {vip} dnat to numgen inc mod {len(tasks)} map {{ {pairs} }}")
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def removed(old: dict[str, tuple[str, ...]], new: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(VIP, backend) pairs in `old` that `new` no longer has."""
    return sorted((vip, b) for vip, tasks in old.items() for b in tasks if b not in new.get(vip, ()))


def forget(netns: str, pairs: list[tuple[str, str]]) -> int:
    """Delete the container's conntrack entries to each VIP that were translated to its backend."""
    if not pairs:
        return 0
    from .nlns import NETLINK_NETFILTER, _real_inet_ntop, socket_in

    _real_inet_ntop()
    from pyroute2 import Conntrack
    from pyroute2.netlink.nfnetlink.nfctsocket import NFCTAttrTuple

    sock = socket_in(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_NETFILTER)
    ct = Conntrack(fileno=sock.detach())
    deleted = 0
    try:
        for vip, backend in pairs:
            for entry in list(ct.dump_entries(tuple_orig=NFCTAttrTuple(daddr=vip))):
                if entry.tuple_reply.saddr == backend:
                    ct.delete(entry)
                    deleted += 1
    except OSError as exc:
        raise RuntimeFailure(f"conntrack: {exc}") from None
    finally:
        ct.close()
    return deleted


def apply(netns: str, text: str) -> None:
    """Load `text` in the namespace at `netns` in one transaction."""
    try:
        proc = subprocess.run(
            ["nsenter", f"--net={netns}", "nft", "-f", "-"], input=text.encode(), capture_output=True, timeout=30
        )
    except FileNotFoundError as exc:
        raise RuntimeFailure(f"virtual IPs need nftables: {exc.filename} not found") from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure("nft did not finish within 30 s") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeFailure(f"nft: {lines[0] if lines else f'exit {proc.returncode}'}")
