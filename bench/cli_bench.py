"""Wall time of `svc ls` and `svc ps web` as an operator runs them: a new process each time.

    sudo python3 bench/cli_bench.py [--runs 10] [--replicas 5] [--swarm | --no-swarm]

A manager and a node on loopback, one service `web` of N busybox replicas. Each command runs
`--runs` times through the installed `svc` entry point (the same process a shell starts), and the
median and worst are reported. `python -c pass` from the same interpreter is the floor every
Python CLI pays, and `svc --version` what argument parsing adds to it. The `(grpcio)` rows are the
same commands with SVC_CLI_TRANSPORT=grpcio (grpcio instead of svc.grpcwire), alternated run by
run with the default. `docker service ls` is
measured in the same run against a real single-node Docker Swarm with the same service (Debian's
docker.io and containerd in namespaces of their own, bench/dockerswarm.py): tried by default,
required with --swarm, skipped with --no-swarm.
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
from dockerswarm import DockerSwarm, DockerUnavailable

BUSYBOX_SLEEP = ("busybox", "sleep", "1000000")


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


def docker_swarm_ls(runs: int, replicas: int) -> dict[str, list[float]]:
    """`docker service ls` against a real single-node swarm (bench/dockerswarm.py) with one service `web`;
    `docker --version` (no daemon asked) is the Go CLI's floor."""
    with DockerSwarm() as d:
        d.load_busybox(os.path.join(d.dir, "busybox.tar"))
        d.docker(
            "service",
            "create",
            "-d",
            "--no-resolve-image",
            "--name",
            "web",
            "--replicas",
            str(replicas),
            *BUSYBOX_SLEEP,
        )
        deadline = time.monotonic() + 120
        while len(d.docker("ps", "-q").stdout.split()) < replicas:
            if time.monotonic() > deadline:
                raise SystemExit("docker: the service's replicas did not start")
            time.sleep(0.2)
        return {
            "docker --version": timed([d.cli, "--version"], d.env, runs),
            "docker service ls": timed([d.cli, "service", "ls"], d.env, runs),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=5)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--swarm", action="store_true", help="require the Docker Swarm side (fail if it cannot run)")
    g.add_argument("--no-swarm", action="store_true", help="svc only")
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
        # The CLI's own transport against grpcio's (SVC_CLI_TRANSPORT=grpcio), alternated run by run so
        # both see the same load.
        grpcio = {**env, "SVC_CLI_TRANSPORT": "grpcio"}
        for name, cmd in (("svc ls", [*svc, "ls"]), ("svc ps web", [*svc, "ps", "web"])):
            for _ in range(a.runs):
                results.setdefault(name, []).extend(timed(cmd, env, 1))
                results.setdefault(f"{name} (grpcio)", []).extend(timed(cmd, grpcio, 1))
    if not a.no_swarm:
        try:
            results.update(docker_swarm_ls(a.runs, a.replicas))
        except DockerUnavailable as e:
            if a.swarm:
                raise SystemExit(f"Docker Swarm cannot run here: {e}") from None
            print(f"note: no Docker Swarm side ({e})", file=sys.stderr)
    print(f"{'command':<20} {'median ms':>10} {'worst ms':>10}")
    for name, values in results.items():
        print(f"{name:<20} {median(values) * 1000:>10.0f} {max(values) * 1000:>10.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
