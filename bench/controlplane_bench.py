"""Control-plane scale: 3 real managers, N SIMULATED nodes, T replicas.

    sudo python3 bench/controlplane_bench.py --nodes 20,100,200 --tasks 1000,5000,10000 [--runs 3] [--failover]

Managers are real `svcd manager` processes (Raft, gRPC, mTLS); nodes are real agents over a
simulated engine (bench/sim/, never a default), all in one helper process. For each (N, T):
create a service of T replicas and measure the time until every task is reported running
(one cluster per N; the service is removed between runs);
manager CPU seconds and peak resident memory; Raft commits and commits per second, and the
journal's size; scheduler placements per second; then the leader's CPU while N nodes only
heartbeat. With --failover, kill the leader at the largest size: time to a new leader and to
writes accepted, and check that no task was lost or duplicated.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import psutil
from common import HERE, REPO, cluster, median

IDLE_SECONDS = 10.0


def metrics(addr: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#") and "{" not in line:
                    name, value = line.split()[:2]
                    out[name] = float(value)
    except OSError:
        pass
    return out


def heartbeats_by_path(addr: str) -> dict[str, float]:
    """svc_heartbeats_total by path (udp, stream): which path the idle heartbeats took."""
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                m = re.match(r'svc_heartbeats_total\{path="(\w+)"\} (\S+)', line)
                if m:
                    out[m.group(1)] = float(m.group(2))
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024 if m else 0.0


SIM_PROCESSES = 4  # the simulated nodes are shared out over this many processes


class SimNodes:
    """The simulated nodes' processes (SIM_PROCESSES of them, nodes shared out); reads their status lines.

    Several processes, because 200 agents on one event loop heartbeat late while that loop handles
    a wave's assignments — a lateness real nodes, each with its own CPU, do not have — and the
    leader then rightly marks them down (the slow runs of the 200-node measurement)."""

    def __init__(self, count: int, join: str, token: str, base: str, processes: int = SIM_PROCESSES) -> None:
        self._status: list[dict[str, int]] = []
        self.procs = []
        share = -(-count // processes)
        for k, offset in enumerate(range(0, count, share)):
            self._status.append({"nodes": 0, "sessions": 0, "running": 0})
            proc = subprocess.Popen(
                [
                    sys.executable,
                    os.path.join(HERE, "sim", "simnodes.py"),
                    "--count",
                    str(min(share, count - offset)),
                    "--offset",
                    str(offset),
                    "--join",
                    join,
                    "--token",
                    token,
                    "--base",
                    base,
                ],
                stdout=subprocess.PIPE,
                stderr=open(os.path.join(base, f"simnodes-{k}.log"), "w"),
                text=True,
                env={**os.environ, "PYTHONPATH": REPO},
            )
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(k, proc), daemon=True).start()

    @property
    def status(self) -> dict[str, int]:
        return {key: sum(s.get(key, 0) for s in self._status) for key in ("nodes", "sessions", "running")}

    def _read(self, k: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self._status[k] = json.loads(line)
            except ValueError:
                pass

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait(10)


def wait(fn: Any, timeout: float, what: str, interval: float = 0.1) -> float:
    start = time.monotonic()
    while not fn():
        if time.monotonic() - start > timeout:
            raise TimeoutError(what)
        time.sleep(interval)
    return time.monotonic() - start


def run_nodes(nodes: int, task_counts: list[int], runs: int, failover: bool) -> list[list[dict[str, Any]]]:
    """One cluster and one set of simulated nodes; every task count `runs` times in it."""
    from svc.control import ControlClient
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import container_pb2 as pb
    from svc.v1 import control_pb2 as ctl

    rows: list[list[dict[str, Any]]] = []
    with cluster(heartbeat=1.0) as c:
        first = c.start_manager(c.add_host())
        for _ in range(2):
            c.start_manager(c.add_host(), join=first, wait=False)
        c.wait_ready()
        # The leader's CPU with no nodes at all: Raft ticks and timers, the baseline heartbeats add to.
        base_leader = next(h for h in c.managers() if metrics(f"{h.addr}:9424").get("svc_manager_leader") == 1)
        time.sleep(3)
        b0 = cpu_seconds(base_leader.manager.pid)
        time.sleep(IDLE_SECONDS)
        baseline_pct = 100 * (cpu_seconds(base_leader.manager.pid) - b0) / IDLE_SECONDS
        sims_dir = os.path.join(c.base, "sims")
        os.makedirs(sims_dir)
        sims = SimNodes(nodes, first.api, c.token("worker", via=first), sims_dir)
        try:
            wait(lambda: sims.status["sessions"] == nodes, 300, "simulated nodes to register")
            managers = {h.name: h for h in c.managers()}
            leader = next(h for h in managers.values() if metrics(f"{h.addr}:9424").get("svc_manager_leader") == 1)
            client = ControlClient(leader.api, c.admin_dir())
            pids = {name: h.manager.pid for name, h in managers.items()}
            # Heartbeats only: the leader's CPU while N nodes keep their sessions and nothing else happens.
            time.sleep(3)
            h0 = heartbeats_by_path(f"{leader.addr}:9424")
            c0 = cpu_seconds(pids[leader.name])
            time.sleep(IDLE_SECONDS)
            idle_pct = 100 * (cpu_seconds(pids[leader.name]) - c0) / IDLE_SECONDS
            h1 = heartbeats_by_path(f"{leader.addr}:9424")
            idle_beats = {path: h1[path] - h0.get(path, 0) for path in h1}
            for tasks in task_counts:
                row = []
                for _ in range(runs):
                    r = measure(c, client, leader, pids, sims, nodes, tasks, ctl, cpb, pb)
                    r["idle_leader_core_pct"] = idle_pct
                    r["baseline_leader_core_pct"] = baseline_pct
                    r["heartbeat_core_pct"] = idle_pct - baseline_pct
                    r["heartbeat_cost_per_node_pct"] = (idle_pct - baseline_pct) / nodes
                    r["idle_heartbeats_by_path"] = idle_beats
                    print(json.dumps(r), flush=True)
                    row.append(r)
                    last = tasks == task_counts[-1] and len(row) == runs
                    if failover and last:
                        r["failover"] = kill_leader(c, leader, client, tasks, sims)
                        print(json.dumps(r["failover"]), flush=True)
                    else:
                        client.RemoveService(ctl.ServiceRef(service="web"))
                        wait(lambda: sims.status["running"] == 0, 300, "the service's containers removed")
                        wait(lambda: not client.ListTasks(ctl.ListTasksRequest()).tasks, 300, "tasks deleted")
                rows.append(row)
            client.close()
        finally:
            sims.stop()
    return rows


def measure(
    c: Any,
    client: Any,
    leader: Any,
    pids: dict[str, int],
    sims: SimNodes,
    nodes: int,
    tasks: int,
    ctl: Any,
    cpb: Any,
    pb: Any,
) -> dict[str, Any]:
    result: dict[str, Any] = {"nodes": nodes, "tasks": tasks}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    m0 = metrics(f"{leader.addr}:9424")
    spec = cpb.ServiceSpec(name="web", replicas=tasks, task=pb.ContainerSpec(image="busybox", cmd=["sleep", "1"]))
    start = time.monotonic()
    client.CreateService(ctl.CreateServiceRequest(spec=spec))
    placed_at = [0.0]

    def all_running() -> bool:
        m = metrics(f"{leader.addr}:9424")
        placed = m.get("svc_scheduler_placements_total", 0) - m0.get("svc_scheduler_placements_total", 0)
        if not placed_at[0] and placed >= tasks:
            placed_at[0] = time.monotonic() - start
        return sims.status["running"] >= tasks and client.GetService(ctl.ServiceRef(service="web")).running == tasks

    result["all_running_s"] = wait(all_running, 600, "every task running", interval=0.25)
    m1 = metrics(f"{leader.addr}:9424")
    result["placements_per_s"] = tasks / placed_at[0] if placed_at[0] else float("nan")
    result["cpu_s"] = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    result["leader_cpu_s"] = result["cpu_s"][leader.name]
    result["commits"] = m1["svc_raft_commit_index"] - m0["svc_raft_commit_index"]
    for key in ("rounds", "round_errors", "write_conflicts", "nodes_marked_down", "loop_stall_seconds"):
        name = f"svc_leader_{key}_total"
        result[key] = m1.get(name, 0) - m0.get(name, 0)
    result["commits_per_s"] = result["commits"] / result["all_running_s"]
    raft_dir = os.path.join(leader.data_dir, "manager", "raft")
    journals = [os.path.join(raft_dir, name) for name in ("raft.wal", "raft.journal")]  # ours, or pysyncobj's
    result["journal_mib"] = sum(os.path.getsize(j) for j in journals if os.path.exists(j)) / (1 << 20)
    result["peak_rss_mib"] = {name: peak_rss_mib(pid) for name, pid in pids.items()}
    return result


def kill_leader(c: Any, leader: Any, client: Any, tasks: int, sims: SimNodes) -> dict[str, Any]:
    from svc.control import ControlClient
    from svc.v1 import control_pb2 as ctl

    survivors = [h for h in c.managers() if h is not leader]
    start = time.monotonic()
    c.kill9(leader, "manager")
    out: dict[str, Any] = {}

    def new_leader() -> bool:
        return any(metrics(f"{h.addr}:9424").get("svc_manager_leader") == 1 for h in survivors)

    out["new_leader_s"] = wait(new_leader, 60, "a new leader")
    clients = [ControlClient(h.api, c.admin_dir()) for h in survivors]

    def write() -> bool:
        for cl in clients:
            try:
                cl.ScaleService(ctl.ScaleServiceRequest(service="web", replicas=tasks), timeout=5)
                return True
            except Exception:
                continue
        return False

    wait(write, 60, "a write accepted")
    out["writes_accepted_s"] = time.monotonic() - start
    cl = clients[0]

    def settled() -> bool:
        svc = cl.GetService(ctl.ServiceRef(service="web"))
        return svc.running == tasks and sims.status["running"] == tasks

    out["reconverged_s"] = wait(settled, 300, "convergence after failover") + out["writes_accepted_s"]
    live = [t for t in cl.ListTasks(ctl.ListTasksRequest(service="web")).tasks if t.desired_state == "running"]
    slots = [t.slot for t in live]
    out["tasks_live"] = len(live)
    out["slots_distinct"] = len(set(slots))
    out["containers_running"] = sims.status["running"]
    out["ok"] = len(live) == len(set(slots)) == tasks == sims.status["running"]
    for x in clients:
        x.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="20,100,200")
    p.add_argument("--tasks", default="1000,5000,10000")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--failover", action="store_true", help="kill the leader at the largest size")
    p.add_argument("--json")
    args = p.parse_args()
    node_counts = [int(x) for x in args.nodes.split(",")]
    task_counts = [int(x) for x in args.tasks.split(",")]
    rows = []
    for n in node_counts:
        rows += run_nodes(n, task_counts, args.runs, args.failover and n == node_counts[-1])
    print()
    print(
        f"{'nodes':>5} {'tasks':>6} {'all running s':>13} {'placements/s':>12} {'leader CPU s':>12} "
        f"{'commits':>8} {'commits/s':>9} {'journal MiB':>11} {'peak RSS MiB':>12} {'idle %core':>10} "
        f"{'no-node %core':>13} {'HB %core':>8}"
    )
    for runs in rows:

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return median([r[key] for r in runs])

        rss = median([max(r["peak_rss_mib"].values()) for r in runs])
        print(
            f"{runs[0]['nodes']:>5} {runs[0]['tasks']:>6} {med('all_running_s'):>13.2f} "
            f"{med('placements_per_s'):>12.0f} {med('leader_cpu_s'):>12.2f} {med('commits'):>8.0f} "
            f"{med('commits_per_s'):>9.1f} {med('journal_mib'):>11.1f} {rss:>12.0f} "
            f"{med('idle_leader_core_pct'):>10.1f} {med('baseline_leader_core_pct'):>13.1f} "
            f"{med('heartbeat_core_pct'):>8.1f}"
        )
    for runs in rows:
        beats = runs[0].get("idle_heartbeats_by_path", {})
        print(f"{runs[0]['nodes']} nodes, idle heartbeats in {IDLE_SECONDS:.0f}s by path: {json.dumps(beats)}")
    for runs in rows:
        for r in runs:
            if "failover" in r:
                print(f"failover at {r['nodes']} nodes / {r['tasks']} tasks: {json.dumps(r['failover'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
