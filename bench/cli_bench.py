"""Wall time of `svc ls` and `svc ps web` as an operator runs them: a new process each time.

    sudo python3 bench/cli_bench.py [--runs 10] [--replicas 5]

A manager and a node on loopback, one service `web` of N busybox replicas. Each command runs
`--runs` times through the installed `svc` entry point (the same process a shell starts), and the
median and worst are reported. `python -c pass` from the same interpreter is the floor every
Python CLI pays, and `svc --version` what argument parsing adds to it. `docker service ls` is
measured in the same run when a Docker engine in swarm mode answers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from common import cluster, median


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        out.append(time.perf_counter() - start)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return out


def svc_entry() -> list[str]:
    found = shutil.which("svc", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [found] if found else [sys.executable, "-m", "svc"]


def docker_swarm_ls(runs: int) -> list[float] | None:
    try:
        r = subprocess.run(
            ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0 or r.stdout.strip() != "active":
        return None
    return timed(["docker", "service", "ls"], dict(os.environ), runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=5)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    svc = svc_entry()
    results: dict[str, list[float]] = {}
    with cluster() as c:
        m = c.start_manager(c.add_host())
        n = c.start_node(c.add_host())
        c.import_image(n, c.busybox)
        c.ok("create", "--name", "web", "--replicas", str(a.replicas), "busybox", "sleep", "1000000", via=m)
        env = {**os.environ, "SVC_HOST": m.api, "SVC_TLS_DIR": c.admin_dir()}
        results["python -c pass"] = timed([sys.executable, "-c", "pass"], env, a.runs)
        results["svc --version"] = timed([*svc, "--version"], env, a.runs)
        results["svc ls"] = timed([*svc, "ls"], env, a.runs)
        results["svc ps web"] = timed([*svc, "ps", "web"], env, a.runs)
    swarm = docker_swarm_ls(a.runs)
    if swarm is not None:
        results["docker service ls"] = swarm
    print(f"{'command':<20} {'median ms':>10} {'worst ms':>10}")
    for name, values in results.items():
        print(f"{name:<20} {median(values) * 1000:>10.0f} {max(values) * 1000:>10.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
