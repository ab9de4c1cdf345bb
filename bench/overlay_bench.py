"""Overlay networking: TCP throughput over the overlay against the plain path between the same two
hosts, and how soon a new task serves through its service's VIP (issue #14's benchmark).

Two nodes and a manager on namespace hosts (the tests' harness). Throughput: one TCP stream of iperf3
(Debian's, installed by deploy/test.sh; run in the two namespaces with nsenter --net) for --seconds a
run, or with `--tool python` (or where iperf3 is missing) a bounded Python socket pump, 64 KiB writes,
at most --mb MiB or --seconds per run, whose sender and receiver threads share one interpreter and
so measure Python as much as the path; plain and overlay runs alternate. The plain path is host A's
namespace to host B's over their veth and bridge, the overlay
path is a container on A to a container on B by their overlay addresses (sockets opened inside the
containers' namespaces, so the bytes cross veth → br0 → VXLAN → the hosts' link → VXLAN → br0 →
veth). VIP readiness: `api` on B is scaled 0 → 1, and a client on A connects to api's VIP every
20 ms; the time from the task's RUNNING status (its node's timestamp) to the first answered connection.
Latency: on one TCP connection (TCP_NODELAY), --rtts round trips of a 64-byte request answered by a
64-byte reply from an echo thread, each timed; the median and p99 per path (the same two paths).

    sudo /opt/svc/venv/bin/python bench/overlay_bench.py [--tool iperf3|python] [--mb 4096] [--seconds 3]
        [--runs 5] [--rtts 2000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Any

from common import cluster, median  # (puts the repository on the path)

from node.engine.nlns import socket_in

CHUNK = 64 * 1024
PORT = 5201
RTT_PORT, RTT_BYTES = 5202, 64
HTTP = 8080


def _ns_of_host(h: Any) -> str:
    return f"/run/netns/{h.netns}"


def _ns_of_task(c: Any, h: Any, service: str) -> str:
    for ctr in c.running_containers(h):
        if ctr.get("labels", {}).get("svc.service.name") == service and ctr.get("state") == "running":
            return os.path.join(h.run_dir, "engine", "netns", "svc-" + ctr["id"][:12])
    raise RuntimeError(f"no running task of {service} on host {h.name}")


def pump(server_ns: str, server_addr: str, client_ns: str, mb: int, seconds: float) -> float:
    """MiB/s of one TCP stream from a socket in `client_ns` to one in `server_ns`; bounded in bytes and time."""
    lsock = socket_in(server_ns, socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((server_addr, PORT))
    lsock.listen(1)
    lsock.settimeout(10)
    got = [0]

    def sink() -> None:
        conn, _ = lsock.accept()
        conn.settimeout(10)
        with conn:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    return
                got[0] += len(data)

    t = threading.Thread(target=sink, daemon=True)
    t.start()
    buf = b"\0" * CHUNK
    limit = mb << 20
    csock = socket_in(client_ns, socket.AF_INET, socket.SOCK_STREAM)
    csock.settimeout(10)
    try:
        csock.connect((server_addr, PORT))
        start = time.monotonic()
        sent = 0
        while sent < limit and time.monotonic() - start < seconds:
            csock.sendall(buf)
            sent += CHUNK
    finally:
        csock.close()
    t.join(timeout=15)
    took = time.monotonic() - start
    lsock.close()
    return got[0] / took / (1 << 20)


def iperf3(server_ns: str, server_addr: str, client_ns: str, seconds: float) -> float:
    """MiB/s iperf3 measured receiving one TCP stream from `client_ns` to `server_ns` for `seconds`."""
    server = subprocess.Popen(
        ["nsenter", f"--net={server_ns}", "iperf3", "-s", "-1", "-B", server_addr, "-p", str(PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):  # bounded: 5 s for the server to listen
            r = subprocess.run(
                ["nsenter", f"--net={client_ns}", "iperf3", "-c", server_addr, "-p", str(PORT), "-t", str(seconds),
                 "-J"],
                capture_output=True, text=True, timeout=seconds + 30,
            )  # fmt: skip
            doc = json.loads(r.stdout or "{}")
            if "end" in doc and "sum_received" in doc["end"]:
                return float(doc["end"]["sum_received"]["bits_per_second"]) / 8 / (1 << 20)
            time.sleep(0.1)
        raise RuntimeError(f"iperf3 to {server_addr}: {doc.get('error', r.stderr.strip())}")
    finally:
        server.kill()
        server.wait()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise ConnectionError("the echo side closed")
        data += part
    return data


def round_trips(server_ns: str, server_addr: str, client_ns: str, n: int) -> list[float]:
    """Seconds of each of `n` request-response round trips (RTT_BYTES each way) on one connection."""
    lsock = socket_in(server_ns, socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((server_addr, RTT_PORT))
    lsock.listen(1)
    lsock.settimeout(10)

    def echo() -> None:
        conn, _ = lsock.accept()
        conn.settimeout(10)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            for _ in range(n):  # bounded: exactly the client's n requests
                conn.sendall(_recv_exactly(conn, RTT_BYTES))

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    csock = socket_in(client_ns, socket.AF_INET, socket.SOCK_STREAM)
    csock.settimeout(10)
    csock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"r" * RTT_BYTES
    took = []
    try:
        csock.connect((server_addr, RTT_PORT))
        for _ in range(n):
            start = time.perf_counter()
            csock.sendall(req)
            _recv_exactly(csock, RTT_BYTES)
            took.append(time.perf_counter() - start)
    finally:
        csock.close()
        t.join(timeout=15)
        lsock.close()
    return took


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def vip_ready(c: Any, a: Any, b: Any, client_ns: str, vip: str) -> float:
    """Seconds from api's new task RUNNING (its node's timestamp) to the first connection through the VIP."""
    c.ok("scale", "-d", "api=1")
    deadline = time.monotonic() + 60
    answered = 0.0
    while time.monotonic() < deadline:  # bounded: 60 s of 20 ms attempts
        s = socket_in(client_ns, socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((vip, HTTP))
            answered = time.time()
            break
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    if not answered:
        raise RuntimeError("api never answered through its VIP")
    running = 0.0
    for _ in range(100):
        tasks = [t for t in c.json_lines("ps", "api") if t.get("desired_state") == "running"]
        states = [t.get("status", {}) for t in tasks]
        if states and states[0].get("state") == "running":
            running = _epoch(states[0].get("timestamp"))
            break
        time.sleep(0.1)
    c.ok("scale", "api=0")
    return answered - running


def _epoch(text: Any) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", choices=("iperf3", "python"), default="iperf3" if shutil.which("iperf3") else "python")
    ap.add_argument("--mb", type=int, default=4096, help="MiB per throughput run at most (python)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per throughput run at most")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rtts", type=int, default=2000, help="round trips per latency run")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    out: dict[str, Any] = {"tool": args.tool, "mb": args.mb, "seconds": args.seconds, "runs": args.runs}
    with cluster(netns=True) as c:
        c.start_manager(c.add_host())
        a, b = c.start_node(c.add_host(), wait=False), c.start_node(c.add_host(), wait=False)
        c.wait_ready()
        for h in (a, b):
            c.import_image(h, c.busybox)
        c.ok("network", "create", "--subnet", "10.77.0.0/24", "bench")
        for name, host, cmd in (
            ("sink", b, ["sleep", "1000000"]),
            ("src", a, ["sleep", "1000000"]),
            ("api", b, ["httpd", "-f", "-p", str(HTTP), "-h", "/"]),
        ):
            c.ok("create", "--name", name, "--network", "bench", "--constraint", f"node.hostname==node-{host.name}",
                 "busybox", *cmd)  # fmt: skip
        sink_addr = next(
            str(t["networks"][0]["addr"]).split("/")[0]
            for t in c.json_lines("ps", "sink")
            if t.get("desired_state") == "running" and t.get("networks")
        )
        sink_ns, src_ns = _ns_of_task(c, b, "sink"), _ns_of_task(c, a, "src")

        def stream(server_ns: str, addr: str, client_ns: str) -> float:
            if args.tool == "iperf3":
                return iperf3(server_ns, addr, client_ns, args.seconds)
            return pump(server_ns, addr, client_ns, args.mb, args.seconds)

        plain, overlay = [], []
        for _ in range(args.runs):  # interleaved, so the machine's load falls on both paths alike
            plain.append(stream(_ns_of_host(b), b.addr, _ns_of_host(a)))
            overlay.append(stream(sink_ns, sink_addr, src_ns))
        out["plain_mib_s"], out["overlay_mib_s"] = plain, overlay
        out["overlay_vs_plain"] = median(overlay) / median(plain)
        # Each overlay run beside the plain run just before it, under the same load: the paired ratio.
        out["overlay_vs_plain_paired"] = median([o / p for o, p in zip(overlay, plain, strict=True)])
        lat: dict[str, list[float]] = {"plain": [], "overlay": []}
        for _ in range(args.runs):  # interleaved, so the machine's load falls on both paths alike
            lat["plain"] += round_trips(_ns_of_host(b), b.addr, _ns_of_host(a), args.rtts)
            lat["overlay"] += round_trips(sink_ns, sink_addr, src_ns, args.rtts)
        for path, values in lat.items():
            out[f"{path}_rtt_us"] = {"median": median(values) * 1e6, "p99": p99(values) * 1e6, "n": len(values)}
        vip = json.loads(c.ok("inspect", "api"))[0]["virtual_ips"][0]["addr"].split("/")[0]
        c.ok("scale", "api=0")
        out["vip_ready_s"] = [vip_ready(c, a, b, src_ns, vip) for _ in range(args.runs)]
    print(
        f"throughput ({args.tool}), median of {args.runs}: plain {median(plain):.0f} MiB/s, "
        f"overlay {median(overlay):.0f} MiB/s "
        f"({out['overlay_vs_plain']:.0%}; paired runs {out['overlay_vs_plain_paired']:.0%}); "
        f"round trips ({args.runs} x {args.rtts}): plain median "
        f"{out['plain_rtt_us']['median']:.0f} us, p99 {out['plain_rtt_us']['p99']:.0f} us; overlay median "
        f"{out['overlay_rtt_us']['median']:.0f} us, p99 {out['overlay_rtt_us']['p99']:.0f} us; "
        f"VIP ready after RUNNING: median {median(out['vip_ready_s']):.3f} s "
        f"(runs {', '.join(f'{x:.3f}' for x in out['vip_ready_s'])})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
