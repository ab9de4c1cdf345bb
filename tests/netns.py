"""Test hosts as network namespaces on a private bridge, and the faults we inflict on them.

Layout: one bridge in the root namespace with the subnet's first address (so the test
process can reach every host), and per host a namespace with a veth whose inside end is
`eth0` with the host's own address. Nothing is routed off the bridge: test traffic never
leaves the machine. Faults act inside a host's namespace: link down (cut), iptables drops
toward chosen peers (partition), tc netem (delay, loss).
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
from dataclasses import dataclass, field

CUT_CHAIN = "SVC-TEST-CUT"


def sh(*args: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = list(args)
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


@dataclass
class TestNet:
    """A private bridge and the namespaces attached to it."""

    tag: str
    subnet: str
    bridge: str = ""
    namespaces: list[str] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)  # namespace -> address

    def __post_init__(self) -> None:
        self.bridge = f"svtb{self.tag}"[:15]
        self._net = ipaddress.ip_network(self.subnet)
        self._next = 10
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/{self._net.prefixlen}", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")

    @property
    def gateway(self) -> str:
        return str(self._net.network_address + 1)

    def add(self, name: str) -> tuple[str, str]:
        """A new namespace on the bridge; returns (namespace name, its address)."""
        ns = f"svth{self.tag}-{name}"
        addr = str(self._net.network_address + self._next)
        self._next += 1
        outer = f"vt{self.tag}{name}"[:15]
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", outer, "master", self.bridge, "up")
        sh("ip", "addr", "add", f"{addr}/{self._net.prefixlen}", "dev", "eth0", netns=ns)
        sh("ip", "link", "set", "eth0", "up", netns=ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        sh("ip", "route", "add", "default", "via", self.gateway, netns=ns)
        self.addresses[ns] = addr
        return ns, addr

    # ----- faults -----

    def cut(self, ns: str) -> None:
        """Take the host off the network entirely."""
        sh("ip", "link", "set", "eth0", "down", netns=ns)

    def uncut(self, ns: str) -> None:
        sh("ip", "link", "set", "eth0", "up", netns=ns)
        sh("ip", "route", "replace", "default", "via", self.gateway, netns=ns)

    def partition(self, side: list[str]) -> None:
        """Drop traffic between the namespaces in `side` and every other host (the test process still reaches all)."""
        others = [self.addresses[n] for n in self.namespaces if n not in side]
        for ns in side:
            sh("iptables", "-N", CUT_CHAIN, netns=ns, check=False)
            sh("iptables", "-F", CUT_CHAIN, netns=ns)
            for ip in others:
                sh("iptables", "-A", CUT_CHAIN, "-s", ip, "-j", "DROP", netns=ns)
                sh("iptables", "-A", CUT_CHAIN, "-d", ip, "-j", "DROP", netns=ns)
            for chain in ("INPUT", "OUTPUT"):
                if sh("iptables", "-C", chain, "-j", CUT_CHAIN, netns=ns, check=False).returncode != 0:
                    sh("iptables", "-I", chain, "1", "-j", CUT_CHAIN, netns=ns)

    def heal(self) -> None:
        for ns in self.namespaces:
            sh("iptables", "-F", CUT_CHAIN, netns=ns, check=False)
            sh("tc", "qdisc", "del", "dev", "eth0", "root", netns=ns, check=False)
            self.uncut(ns)

    def degrade(self, ns: str, delay_ms: int = 100, loss_pct: float = 5.0) -> str:
        """Delay and lose packets (tc netem). Kernels without sch_netem get random loss from iptables
        instead, and no delay; returns what was applied."""
        r = sh(
            "tc",
            "qdisc",
            "replace",
            "dev",
            "eth0",
            "root",
            "netem",
            "delay",
            f"{delay_ms}ms",
            "loss",
            f"{loss_pct}%",
            netns=ns,
            check=False,
        )
        if r.returncode == 0:
            return f"netem delay {delay_ms}ms loss {loss_pct}%"
        sh("iptables", "-N", CUT_CHAIN, netns=ns, check=False)
        for chain in ("INPUT", "OUTPUT"):
            if sh("iptables", "-C", chain, "-j", CUT_CHAIN, netns=ns, check=False).returncode != 0:
                sh("iptables", "-I", chain, "1", "-j", CUT_CHAIN, netns=ns)
        sh(
            "iptables",
            "-A",
            CUT_CHAIN,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            str(loss_pct / 100),
            "-j",
            "DROP",
            netns=ns,
        )
        return f"no netem in this kernel ({r.stderr.strip()}): iptables random loss {loss_pct}%, no delay"

    # ----- teardown -----

    def destroy(self) -> None:
        for ns in self.namespaces:
            with contextlib.suppress(Exception):
                sh("ip", "netns", "delete", ns)
        self.namespaces.clear()
        sh("ip", "link", "del", self.bridge, check=False)
