"""VXLAN ids a test left in use in the host's network namespace, who holds them, and their release.

Why a check of its own: the kernel refuses a second VXLAN device with the same id and UDP port made
from one namespace, wherever the first device lives now. svc makes each overlay's device in the
node's namespace and moves it into the network's namespace, so one device that outlives its test
(its namespace held by a mount or a process no leftover check looks at) makes every later test
that runs an overlay network on this host fail with "File exists", far from the test that leaked.

An id is found in use by trying to make a device with it. Its holder is found by listing the VXLAN
devices of every network namespace a process lives in or a mount (in any mount namespace) pins.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess

from svc import defaults

FIRST_ID, IDS = defaults.OVERLAY_VNI_BASE, 16  # a test's clusters hand out the first few
PORT = 4789
PROBE, GROUP = "svxprobe", 4242  # the probes' names (+ the id) and their link group
_VXLAN_LINE = re.compile(r"^\d+: ([^:@\s]+)[@:].*\bvxlan id (\d+)\b.*\bdstport (\d+)\b")


def ids_in_use() -> set[int]:
    """The ids of FIRST_ID.. that a device made from this namespace already holds."""
    from pyroute2.netlink.exceptions import NetlinkError

    from node.engine.nlns import iproute

    used = set()
    with iproute() as ipr:  # the probes go in one batch: a delete each would wait for RCU each
        try:
            for vni in range(FIRST_ID, FIRST_ID + IDS):
                try:
                    ipr.link("add", ifname=f"{PROBE}{vni}", kind="vxlan", vxlan_id=vni, vxlan_port=PORT, group=GROUP)
                except NetlinkError:
                    used.add(vni)
        finally:
            ipr.link("del", group=GROUP)
    return used


def _namespaces() -> list[tuple[list[str], str]]:
    """Every reachable network namespace: the nsenter arguments that enter it, and what holds it (a
    process, or a mount in some process's mount namespace). A namespace pinned by several mounts, or
    also by a process, is listed once for each."""
    found: list[tuple[list[str], str]] = []
    seen_net: set[tuple[int, int]] = set()
    seen_mnt: set[tuple[int, int]] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            if not cmdline:
                with open(f"/proc/{pid}/comm") as f:
                    cmdline = f"[{f.read().strip()}]"
            who = f"pid {pid} ({cmdline[:120]})"
            net, mnt = (os.stat(f"/proc/{pid}/ns/{kind}") for kind in ("net", "mnt"))
            if (net.st_dev, net.st_ino) not in seen_net:
                seen_net.add((net.st_dev, net.st_ino))
                found.append(([f"--net=/proc/{pid}/ns/net"], f"the namespace of {who}"))
            if (mnt.st_dev, mnt.st_ino) in seen_mnt:
                continue
            seen_mnt.add((mnt.st_dev, mnt.st_ino))
            with open(f"/proc/{pid}/mountinfo") as f:
                points = [ln.split()[4] for ln in f if ln.split()[ln.split().index("-") + 1] == "nsfs"]
            for point in points:
                enter = [f"--mount=/proc/{pid}/ns/mnt", f"--net={point}"]
                found.append((enter, f"a mount at {point} in the mount namespace of {who}"))
    return found


def release(ids: set[int]) -> list[str]:
    """Name and delete the devices holding `ids`; what was found, one line each."""
    report = []
    for enter, holder in _namespaces():
        r = subprocess.run(
            ["nsenter", *enter, "ip", "-d", "-o", "link", "show", "type", "vxlan"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        for line in r.stdout.splitlines():
            m = _VXLAN_LINE.match(line)
            if m and int(m[2]) in ids and int(m[3]) == PORT:
                report.append(f"{m[1]} (VXLAN id {m[2]}) in {holder}")
                subprocess.run(["nsenter", *enter, "ip", "link", "del", m[1]], capture_output=True, timeout=10)
    still = ids_in_use() & ids
    if still:
        report.append(f"ids {sorted(still)} are still in use, held where this check cannot see")
    return report
