"""`svc scale web=100` from 1 on one host with real containers, and back to 1.

    sudo python3 bench/scale_bench.py [--replicas 100] [--runs 3]

Times are wall-clock from the command until the condition holds, measured from outside
(the store and the node's own container list must agree): 1 -> N until N containers run;
N -> 1 until the other containers are gone. The workload is Docker's anchor: busybox
`sleep 1000000`, which as PID 1 ignores SIGTERM, so scale-down includes the 10 s stop grace.
Docker Swarm is measured in the same run when a Docker engine answers (`docker info`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import cluster, median

SWARM_ANCHOR = {"up": 29.0, "down": 20.0}  # ../shared/notes/anchors.md, 2-core Debian 12, Docker 20.10


def count_running(c, h) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for x in c.running_containers(h) if x["labels"].get("svc.service.name") == "web")


def wait(fn, timeout: float = 300) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not fn():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        time.sleep(0.05)
    return time.monotonic() - start


def run_svc(replicas: int, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"up": [], "down": []}
    with cluster() as c:
        m = c.start_manager(c.add_host())
        n = c.start_node(c.add_host())
        c.import_image(n, c.busybox)
        time.sleep(2)
        c.ok("create", "--name", "web", "--replicas", "1", "busybox", "sleep", "1000000")
        for _ in range(runs):
            start = time.monotonic()
            c.ok("scale", "-d", f"web={replicas}", via=m)
            wait(lambda: count_running(c, n) == replicas)
            out["up"].append(time.monotonic() - start)
            start = time.monotonic()
            c.ok("scale", "-d", "web=1", via=m)
            wait(lambda: count_running(c, n) == 1)
            out["down"].append(time.monotonic() - start)
    return out


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_swarm(replicas: int, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"up": [], "down": []}

    def running() -> int:
        r = subprocess.run(
            ["docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=svcbench"],
            capture_output=True,
            text=True,
        )
        return len(r.stdout.split())

    subprocess.run(["docker", "swarm", "init"], capture_output=True)
    subprocess.run(
        ["docker", "service", "create", "-d", "--name", "svcbench", "busybox", "sleep", "1000000"],
        check=True,
        capture_output=True,
    )
    try:
        wait(lambda: running() == 1)
        for _ in range(runs):
            start = time.monotonic()
            subprocess.run(
                ["docker", "service", "scale", "-d", f"svcbench={replicas}"], check=True, capture_output=True
            )
            wait(lambda: running() == replicas)
            out["up"].append(time.monotonic() - start)
            start = time.monotonic()
            subprocess.run(["docker", "service", "scale", "-d", "svcbench=1"], check=True, capture_output=True)
            wait(lambda: running() == 1)
            out["down"].append(time.monotonic() - start)
    finally:
        subprocess.run(["docker", "service", "rm", "svcbench"], capture_output=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    svc = run_svc(args.replicas, args.runs)
    swarm = run_swarm(args.replicas, args.runs) if docker_available() else None
    ref = {k: median(v) for k, v in swarm.items()} if swarm else SWARM_ANCHOR
    source = "measured in this run" if swarm else "anchor (no Docker engine here)"
    for key, label in (("up", f"scale 1 -> {args.replicas}"), ("down", f"scale {args.replicas} -> 1")):
        runs = ", ".join(f"{x:.2f}" for x in svc[key])
        print(
            f"{label}: svc median {median(svc[key]):.2f}s (runs {runs}); Swarm {ref[key]:.1f}s [{source}]; "
            f"{ref[key] / median(svc[key]):.1f}x faster"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"svc": svc, "swarm": swarm, "reference": ref}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
