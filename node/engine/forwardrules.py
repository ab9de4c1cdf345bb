"""svc's own accept rules in iptables' FORWARD chain, so its traffic flows where dockerd runs.

Rule: a host where dockerd runs has the filter table's FORWARD policy DROP (and bridge netfilter
on), which drops whatever a container on the node bridge sends off the node, replies to it, the
connections DNATed to its published ports, and the routing mesh's (through `svcing0`). A packet
passes only if every base chain of its hook accepts it, so an accept in a table of our own would
not do: the rules go in iptables' FORWARD itself (the backend dockerd uses), in a chain of our own
(`SVC-<bridge>`) that FORWARD jumps to first. `rules` is pure; `ensure` adds what is missing (one
check per rule), `remove` takes the jump and the chain away.
"""

from __future__ import annotations

import subprocess

from svc.errors import RuntimeFailure


def chain_name(bridge: str) -> str:
    return f"SVC-{bridge}"[:28]


def bridge_rules(bridge: str) -> list[list[str]]:
    """The node bridge: out of it, replies back into it, DNATed connections (published ports) into it."""
    return [
        ["-i", bridge, "-j", "ACCEPT"],
        ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"],
    ]


def link_rules(link: str) -> list[list[str]]:
    """Everything through a link of ours (the routing mesh's veth to its sandbox), both ways."""
    return [["-i", link, "-j", "ACCEPT"], ["-o", link, "-j", "ACCEPT"]]


def _iptables(*args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["iptables", "-w", *args], capture_output=True, timeout=30)
    except FileNotFoundError:
        raise RuntimeFailure("iptables not found") from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure("iptables did not finish within 30 s") from None


def _must(*args: str) -> None:
    r = _iptables(*args)
    if r.returncode != 0:
        lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeFailure(f"iptables {' '.join(args[:2])}: {lines[-1] if lines else f'exit {r.returncode}'}")


def ensure(chain: str, rules: list[list[str]]) -> None:
    """The chain with `rules`, and FORWARD's jump to it first."""
    made = _iptables("-S", chain).returncode == 0 or _iptables("-N", chain).returncode == 0
    if not made and _iptables("-S", chain).returncode != 0:  # two tasks starting at once: the other one made it
        _must("-N", chain)
    for rule in rules:
        if _iptables("-C", chain, *rule).returncode != 0:
            _must("-A", chain, *rule)
    if _iptables("-C", "FORWARD", "-j", chain).returncode != 0:
        _must("-I", "FORWARD", "1", "-j", chain)


def remove(chain: str) -> None:
    """FORWARD's jump and the chain; nothing to do when they are gone already."""
    while _iptables("-C", "FORWARD", "-j", chain).returncode == 0:
        _must("-D", "FORWARD", "-j", chain)
    if _iptables("-S", chain).returncode == 0:
        _must("-F", chain)
        _must("-X", chain)
