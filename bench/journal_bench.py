"""Raft write latency and throughput: the durable journal against pysyncobj's, in the same run.

    sudo python3 bench/journal_bench.py [--writers 50] [--writes 20] [--runs 3] [--json FILE]

3 managers on loopback; `--writers` threads each scale a service of their own (`svc scale`'s
call, ScaleService: a barrier and a service update, two Raft commits) `--writes` times, through
the leader. Reports per-call latency (median, p95) and calls per second for each journal, and
the durable journal's fdatasync count is visible in each manager's log on exit. The journal is
chosen with SVC_RAFT_JOURNAL (durable, the default, or pysyncobj: the old mmap one, never synced).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time

from common import cluster, median


def run_once(kind: str, writers: int, writes: int) -> dict[str, float]:
    os.environ["SVC_RAFT_JOURNAL"] = kind  # the daemons inherit it
    with cluster() as c:
        first = c.start_manager(c.add_host())
        for _ in range(2):
            c.start_manager(c.add_host(), join=first, wait=False)
        c.wait_ready()
        leader = c.leader() or first
        from svc.control import ControlClient
        from svc.v1 import cluster_pb2 as cpb
        from svc.v1 import control_pb2 as ctl

        client = ControlClient(leader.api, c.admin_dir(), transport="grpcio")  # 50 threads' calls at once
        for w in range(writers):
            client.CreateService(ctl.CreateServiceRequest(spec=cpb.ServiceSpec(name=f"s{w}", replicas=0, task=_task())))
        latencies: list[float] = []
        lock = threading.Lock()

        def writer(w: int) -> None:
            mine = []
            for _ in range(writes):
                t0 = time.perf_counter()
                client.ScaleService(ctl.ScaleServiceRequest(service=f"s{w}", replicas=0))
                mine.append(time.perf_counter() - t0)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - t0
        client.close()
        latencies.sort()
        return {
            "median_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
            "calls_per_s": len(latencies) / took,
        }


def _task():  # type: ignore[no-untyped-def]
    from svc.v1 import container_pb2 as pb

    return pb.ContainerSpec(image="busybox", cmd=["true"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--writers", type=int, default=50)
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    results: dict[str, list[dict[str, float]]] = {"pysyncobj": [], "durable": []}
    for _ in range(args.runs):
        for kind in results:  # interleaved, so both see the same machine
            r = run_once(kind, args.writers, args.writes)
            print(f"{kind:10s} median {r['median_ms']:.1f} ms  p95 {r['p95_ms']:.1f} ms  {r['calls_per_s']:.0f}/s")
            results[kind].append(r)
    summary = {k: {m: median([r[m] for r in v]) for m in v[0]} for k, v in results.items()}
    ratio = summary["durable"]["median_ms"] / summary["pysyncobj"]["median_ms"]
    print(f"\nmedian of {args.runs} runs, {args.writers} writers x {args.writes} scale calls:")
    for k, s in summary.items():
        print(f"  {k:10s} median {s['median_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  {s['calls_per_s']:.0f} calls/s")
    print(f"  durable / pysyncobj median latency: {ratio:.2f}x (target <= 1.5x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "summary": summary, "ratio": ratio}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
