"""Failure detection and failover times on hosts in network namespaces.

    sudo python3 bench/failover_bench.py [--runs 3] [--heartbeat 1]

- leader killed (SIGKILL of its svcd manager) -> a write through a surviving manager is accepted;
- worker killed (SIGKILL of its svcd node) -> all its replicas run (as real containers) on the others.
3 managers and 2 workers, each in its own network namespace. Median of --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import REPO, cluster, median

sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))
from faults import build_in, converge, leader_host, majority_manager, wait_write


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--heartbeat", type=float, default=1.0)
    p.add_argument("--json")
    args = p.parse_args()
    leader_times, worker_times = [], []
    with cluster(netns=True, heartbeat=args.heartbeat) as c:
        build_in(c, managers=3, workers=2)
        via = majority_manager(c)
        c.ok("create", "--name", "web", "--replicas", "6", "busybox", "sleep", "1000000", via=via)
        converge(c, {"web": 6}, via)
        for _ in range(args.runs):
            leader = leader_host(c, majority_manager(c))
            c.kill9(leader, "manager")
            leader_times.append(wait_write(c, [h for h in c.managers() if h is not leader]))
            c.start_manager(leader)
            via = majority_manager(c)
            converge(c, {"web": 6}, via)
            victim = max(
                c.nodes(),
                key=lambda h: sum(1 for x in c.running_containers(h) if x["labels"].get("svc.service.name") == "web"),
            )
            others = [h for h in c.nodes() if h is not victim]
            start = time.monotonic()
            c.kill9(victim, "node")
            while (
                sum(1 for h in others for x in c.running_containers(h) if x["labels"].get("svc.service.name") == "web")
                < 6
            ):
                time.sleep(0.05)
            worker_times.append(time.monotonic() - start)
            c.start_node(victim)
            converge(c, {"web": 6}, via)
    print(
        f"leader killed -> writes accepted again: median {median(leader_times):.2f}s "
        f"(runs {', '.join(f'{x:.2f}' for x in leader_times)}; target <= 3 s)"
    )
    print(
        f"worker killed -> its replicas running elsewhere: median {median(worker_times):.2f}s "
        f"(runs {', '.join(f'{x:.2f}' for x in worker_times)}; target <= 5 s; heartbeat {args.heartbeat:g}s x 3)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"leader": leader_times, "worker": worker_times}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
