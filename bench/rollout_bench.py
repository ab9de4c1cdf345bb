"""Roll a new image out to 10 nodes: bytes the registry serves, and time until every replica runs,
with peer distribution and without it (`svcd node --peer-port 0`).

    sudo python3 bench/rollout_bench.py [--nodes 10] [--mb 30] [--layers 3] [--registry-mbps R]
        [--node-cpus C] [--json out.json]

One manager and `--nodes` real node daemons on loopback addresses (tests/harness.py), the CNCF registry
(Debian's docker-registry) on 127.0.0.1 behind a small counting proxy: every byte of every GET body the
registry sends passes through it. The image: `--layers` layers of random (incompressible) data, gzip, `--mb`
MB in all, on busybox. `--registry-mbps R` paces what the proxy sends to R MB/s in all, shared by every
connection: the registry's uplink as the bottleneck (the case the targets are about), where on loopback
without it the 2 cores are. `--node-cpus C` (simulated, named as such: separate hosts) puts each node
daemon, and what it starts but its containers, in a cgroup of its own limited to C cores (CFS quota): ten
hosts of their own CPU, where without it ten daemons share this machine's. For each mode, a fresh cluster:

- single: a 1-replica service of image A, placed on one node: the time of one node's pull and start;
- rollout: `svc create --replicas N` of image B, one replica per node, all nodes needing it at once (the
  hard case for peers: nobody holds it yet); time from the command until the store counts N running.

Targets (issue #13): with peers, registry bytes <= 1.5x the image size, rollout time <= 2x single.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from common import cluster
from registry_bench import build_image, free_port, start_registry


class Uplink:
    """One link's bandwidth, shared by every connection through it: each chunk waits its turn."""

    def __init__(self, mb_per_s: float) -> None:
        self.rate = mb_per_s * 1e6
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the link has sent everything queued so far

    def send(self, write: Any, data: bytes, chunk: int = 64 * 1024) -> None:
        for i in range(0, len(data), chunk):
            piece = data[i : i + chunk]
            with self._lock:
                done = max(time.monotonic(), self._free_at) + len(piece) / self.rate
                self._free_at = done
            time.sleep(max(0.0, done - time.monotonic()))
            write(piece)


class CountingProxy:
    """Forwards GET/HEAD to the registry; counts the body bytes it returns (paced by `uplink` if set)."""

    def __init__(self, upstream: str, uplink: Uplink | None = None) -> None:
        self.upstream = upstream
        self.bytes = 0
        self.blob_gets = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward("GET")

            def do_HEAD(self) -> None:
                self._forward("HEAD")

            def _forward(self, method: str) -> None:
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(method, self.path, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                body = resp.read() if method == "GET" else b""
                if method == "GET" and resp.getheader("content-length") is None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if uplink is not None:
                    uplink.send(self.wfile.write, body)
                else:
                    self.wfile.write(body)
                conn.close()
                with proxy._lock:
                    proxy.bytes += len(body)
                    proxy.blob_gets += method == "GET" and "/blobs/" in self.path and resp.status == 200

        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> tuple[int, int]:
        with self._lock:
            out = (self.bytes, self.blob_gets)
            self.bytes = self.blob_gets = 0
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _trust(path: str, host: str) -> None:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "registries.json"), "w") as f:
        json.dump({"insecure-registries": [host]}, f)


def _running(c: Any, name: str) -> int:
    for s in c.json_lines("ls"):
        if s["spec"]["name"] == name:
            return int(s.get("running", 0))
    return 0


def _wait_running(c: Any, name: str, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while _running(c, name) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: not {n} running after {timeout}s")
        time.sleep(0.2)


class CpuLimits:
    """One CPU-limited cgroup per node daemon (v1's cpu controller, or v2's cpu.max); removed at close."""

    def __init__(self, cpus: float) -> None:
        self.cpus = cpus
        self.v1 = os.path.isdir("/sys/fs/cgroup/cpu")
        self.root = "/sys/fs/cgroup/cpu" if self.v1 else "/sys/fs/cgroup"
        self.made: list[str] = []
        if not self.v1:
            with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")

    def limit(self, pid: int) -> None:
        path = os.path.join(self.root, f"svc-rollout-bench-{os.getpid()}-{len(self.made)}")
        os.mkdir(path)
        self.made.append(path)
        period = 100_000
        if self.v1:
            for name, value in (("cpu.cfs_period_us", period), ("cpu.cfs_quota_us", int(self.cpus * period))):
                with open(os.path.join(path, name), "w") as f:
                    f.write(str(value))
        else:
            with open(os.path.join(path, "cpu.max"), "w") as f:
                f.write(f"{int(self.cpus * period)} {period}")
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def close(self) -> None:
        for path in self.made:
            deadline = time.monotonic() + 10
            while True:
                try:
                    os.rmdir(path)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        print(f"could not remove {path}", file=sys.stderr)
                        break
                    time.sleep(0.1)
        self.made = []


def run_mode(peers: bool, nodes: int, proxy: CountingProxy, limits: CpuLimits | None = None) -> dict[str, Any]:
    with cluster() as c:
        node_extra = [] if peers else ["--peer-port", "0"]
        plain = c._daemon

        def daemon(h: Any, args: list[str], role: str) -> Any:
            d = plain(h, [*args, *node_extra] if role == "node" else args, role)
            if role == "node" and limits is not None:
                start = d.start

                def limited_start() -> Any:
                    start()
                    limits.limit(d.pid)  # before its Python has started a thread
                    return d

                d.start = limited_start
            return d

        c._daemon = daemon
        m = c.start_manager(c.add_host())
        _trust(os.path.join(m.data_dir, "manager"), proxy.host)
        hosts = []
        for _ in range(nodes):
            h = c.add_host()
            _trust(os.path.join(h.data_dir, "node"), proxy.host)
            hosts.append(c.start_node(h, wait=False))
        c.wait_ready()
        time.sleep(2)
        proxy.take()
        out: dict[str, Any] = {"peers": peers, "nodes": nodes}

        t = time.monotonic()
        c.ok("create", "-d", "--name", "one", "--constraint", f"node.hostname==node-{hosts[0].name}",
             f"{proxy.host}/bench:a", "sleep", "1000000")  # fmt: skip
        _wait_running(c, "one", 1)
        out["single_s"] = round(time.monotonic() - t, 2)
        out["single_registry_bytes"], _ = proxy.take()

        t = time.monotonic()
        c.ok("create", "-d", "--name", "web", "--replicas", str(nodes), f"{proxy.host}/bench:b", "sleep", "1000000")
        _wait_running(c, "web", nodes)
        out["rollout_s"] = round(time.monotonic() - t, 2)
        out["rollout_registry_bytes"], out["rollout_registry_blob_gets"] = proxy.take()
        per_node = {}
        for h in hosts:
            with open(os.path.join(h.base, "node.log")) as f:
                per_node[h.name] = [
                    ln.split("pulled ", 1)[1].strip() for ln in f if "pulled " in ln and "bench:b" in ln
                ]
        out["rollout_sources"] = per_node
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--mb", type=int, default=30)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--registry-mbps", type=float, default=0, help="pace the registry to this many MB/s (0: no limit)")
    ap.add_argument("--node-cpus", type=float, default=0, help="limit each node daemon to this many cores (0: none)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="svc-rollout-bench-")
    proc, host = start_registry(base)
    proxy = CountingProxy(host, Uplink(args.registry_mbps) if args.registry_mbps > 0 else None)
    try:
        sizes = {}
        for tag in ("a", "b"):
            archive = os.path.join(base, f"{tag}.tar")
            build_image(archive, args.mb, args.layers)
            subprocess.run(
                ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{archive}",
                 f"docker://{host}/bench:{tag}"],
                check=True,
            )  # fmt: skip
            r = subprocess.run(
                ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/bench:{tag}"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            doc = json.loads(r.stdout)
            sizes[tag] = doc["config"]["size"] + sum(layer["size"] for layer in doc["layers"]) + len(r.stdout)
        limits = CpuLimits(args.node_cpus) if args.node_cpus > 0 else None
        try:
            results = [run_mode(False, args.nodes, proxy, limits), run_mode(True, args.nodes, proxy, limits)]
        finally:
            if limits is not None:
                limits.close()
        for res in results:
            res["image_bytes"] = sizes["b"]
            res["registry_mbps"] = args.registry_mbps or None
            res["node_cpus"] = args.node_cpus or None
            res["registry_bytes_per_image"] = round(res["rollout_registry_bytes"] / sizes["b"], 2)
            res["rollout_over_single"] = round(res["rollout_s"] / res["single_s"], 2)
            label = "peers" if res["peers"] else "no peers (--peer-port 0)"
            print(
                f"{label}: {res['nodes']} nodes, image {sizes['b'] / 1e6:.1f} MB: registry served "
                f"{res['rollout_registry_bytes'] / 1e6:.1f} MB ({res['registry_bytes_per_image']}x the image, "
                f"{res['rollout_registry_blob_gets']} blob GETs); all running in {res['rollout_s']}s, one node's pull "
                f"{res['single_s']}s ({res['rollout_over_single']}x)"
            )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        proxy.stop()
        proc.terminate()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
