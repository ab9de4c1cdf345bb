"""`svc scale web=100` from 1 on one host with real containers, and back to 1.

    sudo python3 bench/scale_bench.py [--replicas 100] [--runs 3] [--swarm | --no-swarm] [--poll api|cli]

Times are wall-clock from the command until the condition holds, measured from outside
(the store and the node's own container list must agree): 1 -> N until N containers run;
N -> 1 until the other containers are gone. The workload is Docker's anchor: busybox
`sleep 1000000`, which as PID 1 ignores SIGTERM, so scale-down includes the 10 s stop grace.
Docker Swarm is measured in the same run, the runs interleaved with svc's: Debian's docker.io and
containerd, fetched into /var/cache/svc/bench-docker and run in namespaces of their own
(bench/dockerswarm.py). By default it is tried and, if it cannot run, the anchor numbers are used
instead; --swarm makes it required, --no-swarm skips it. The container lists are polled every 50 ms
through each system's own API over a connection kept open (`--poll api`, the default: svc's node
engine socket, gRPC; Docker's Engine API socket, HTTP), so the poller costs neither side CPU it would
spend on the work; `--poll cli` polls with a new CLI process each time (`svc container ls`, `docker
ps`), as the runs before 2026-12-04 did: on 2 cores svc's Python CLI took 0.5-1 s of CPU per scale-up.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

from common import cluster, median
from dockerswarm import DockerSwarm, DockerUnavailable

SWARM_ANCHOR = {"up": 29.0, "down": 20.0}  # ../shared/notes/anchors.md, 2-core Debian 12, Docker 20.10


def wait(fn, timeout: float = 300) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not fn():
        if time.monotonic() - start > timeout:
            raise TimeoutError
        time.sleep(0.05)
    return time.monotonic() - start


class SvcSide:
    """svc: a manager and a node as separate processes on this host."""

    name = "svc"

    def __init__(self, stack: contextlib.ExitStack, poll: str = "api") -> None:
        self.poll = poll
        self.c = c = stack.enter_context(cluster())
        self.m = c.start_manager(c.add_host())
        self.n = c.start_node(c.add_host())
        from svc.client import EngineClient

        self.engine = EngineClient(os.path.join(self.n.run_dir, "engine.sock"))
        c.import_image(self.n, c.busybox)
        time.sleep(2)
        c.ok("create", "--name", "web", "--replicas", "1", "busybox", "sleep", "1000000")
        wait(lambda: self.running() == 1)

    def running(self) -> int:
        if self.poll == "api":
            from svc.v1 import engine_pb2 as epb

            listed = self.engine.ListContainers(epb.ListContainersRequest(all=False)).containers
            return sum(1 for x in listed if x.state == "running" and x.labels.get("svc.service.name") == "web")
        return sum(1 for x in self.c.running_containers(self.n) if x["labels"].get("svc.service.name") == "web")

    def scale(self, replicas: int) -> None:
        self.c.ok("scale", "-d", f"web={replicas}", via=self.m)


class SwarmSide:
    """Docker Swarm: Debian's dockerd + containerd in namespaces of their own (bench/dockerswarm.py)."""

    name = "Docker Swarm"

    def __init__(self, stack: contextlib.ExitStack, poll: str = "api") -> None:
        self.poll = poll
        self.d = d = stack.enter_context(DockerSwarm())
        self.api = UnixHTTPConnection(os.path.join(d.dir, "docker.sock"))
        d.load_busybox(os.path.join(d.dir, "busybox.tar"))
        d.docker("service", "create", "-d", "--no-resolve-image", "--name", "web", "busybox", "sleep", "1000000")
        wait(lambda: self.running() == 1)
        self.versions = d.versions()
        self.rss_mib = d.rss_mib()

    def running(self) -> int:
        if self.poll == "api":  # GET /containers/json lists running containers only, as `docker ps`
            query = urllib.parse.urlencode({"filters": json.dumps({"label": ["com.docker.swarm.service.name=web"]})})
            self.api.request("GET", f"/containers/json?{query}")
            return len(json.loads(self.api.getresponse().read()))
        # `docker ps` lists running containers only: a new CLI process each poll, like svc's `container ls`.
        return len(self.d.docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web").stdout.split())

    def scale(self, replicas: int) -> None:
        self.d.docker("service", "scale", "-d", f"web={replicas}")


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 to a unix socket (Docker's Engine API), kept open between requests."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def one_run(side: SvcSide | SwarmSide, replicas: int, out: dict[str, list[float]]) -> None:
    start = time.monotonic()
    side.scale(replicas)
    wait(lambda: side.running() == replicas)
    out["up"].append(time.monotonic() - start)
    start = time.monotonic()
    side.scale(1)
    wait(lambda: side.running() == 1)
    out["down"].append(time.monotonic() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--swarm", action="store_true", help="require the Docker Swarm side (fail if it cannot run)")
    g.add_argument("--no-swarm", action="store_true", help="svc only, against the anchor numbers")
    p.add_argument("--poll", choices=("api", "cli"), default="api", help="how the container lists are polled")
    p.add_argument("--json")
    args = p.parse_args()
    results: dict[str, dict[str, list[float]]] = {"svc": {"up": [], "down": []}}
    info: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        svc = SvcSide(stack, args.poll)
        swarm: SwarmSide | None = None
        if not args.no_swarm:
            try:
                swarm = SwarmSide(stack, args.poll)
            except DockerUnavailable as e:
                if args.swarm:
                    print(f"Docker Swarm cannot run here: {e}", file=sys.stderr)
                    return 1
                print(f"note: no Docker Swarm side ({e}); comparing with the anchor", file=sys.stderr)
        if swarm is not None:
            results["swarm"] = {"up": [], "down": []}
            info = {"docker": swarm.versions, "idle_rss_mib": swarm.rss_mib}
            print(f"Docker Swarm: {json.dumps(swarm.versions)}; idle RSS MiB {json.dumps(swarm.rss_mib)}")
        for i in range(args.runs):
            # Interleaved, the order alternating: svc first on even runs, Swarm first on odd ones.
            order: list[tuple[str, SvcSide | SwarmSide]] = [("svc", svc)]
            if swarm is not None:
                order = [*order, ("swarm", swarm)] if i % 2 == 0 else [("swarm", swarm), *order]
            for key, side in order:
                one_run(side, args.replicas, results[key])
                up, down = results[key]["up"][-1], results[key]["down"][-1]
                print(f"run {i + 1} {side.name}: up {up:.2f}s down {down:.2f}s", flush=True)
    measured = "swarm" in results
    ref = {k: median(v) for k, v in results["swarm"].items()} if measured else SWARM_ANCHOR
    source = "measured in this run" if measured else "anchor (no Docker engine here)"
    for key, label in (("up", f"scale 1 -> {args.replicas}"), ("down", f"scale {args.replicas} -> 1")):
        svc_runs = results["svc"][key]
        line = f"{label}: svc median {median(svc_runs):.2f}s (runs {', '.join(f'{x:.2f}' for x in svc_runs)}); "
        if measured:
            sw = results["swarm"][key]
            line += f"Swarm median {ref[key]:.2f}s (runs {', '.join(f'{x:.2f}' for x in sw)}) [{source}]; "
        else:
            line += f"Swarm {ref[key]:.1f}s [{source}]; "
        print(line + f"{ref[key] / median(svc_runs):.1f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**results, "reference": ref, "reference_source": source, "poll": args.poll, **info}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
