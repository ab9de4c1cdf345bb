"""Fault scenarios and invariants over a netns cluster (shared by the fault tests and bench/)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from harness import Cluster, Host, manager_metric
from helpers import poll


def build(make_cluster: Any, managers: int = 3, workers: int = 3, heartbeat: float = 1.0) -> Cluster:
    return build_in(make_cluster(heartbeat=heartbeat, netns=True), managers, workers)


def build_in(c: Cluster, managers: int = 3, workers: int = 3) -> Cluster:
    """Start managers (the first inits, the rest join together) and workers with the test image."""
    first = c.start_manager(c.add_host())
    for _ in range(managers - 1):  # joins are serialised by the leader; start them together
        c.start_manager(c.add_host(), join=first, wait=False)
    for _ in range(workers):
        c.start_node(c.add_host(), join=first, wait=False)
    c.wait_ready()
    for h in c.nodes():
        c.import_image(h, c.busybox)
    poll(
        lambda: all(
            len(n["description"].get("images", [])) > 0
            for n in c.json_lines("node", "ls")
            if n["description"].get("runtime")
        ),
        30,
        what="workers to report their images",
    )
    return c


def majority_manager(c: Cluster, exclude: list[Host] = ()) -> Host:  # type: ignore[assignment]
    live = [h for h in c.managers() if h.manager and h.manager.alive() and h not in exclude]
    for h in live:
        if c.cli(h, "cluster", "info", timeout=20).returncode == 0:
            return h
    raise AssertionError("no manager answers")


def leader_host(c: Cluster, via: Host) -> Host | None:
    r = c.cli(via, "node", "ls", "--format", "json", timeout=20)
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        ms = json.loads(line).get("manager_status") or {}
        if ms.get("leader"):
            return next((h for h in c.hosts if h.api == ms.get("api_addr")), None)
    return None


def wait_write(c: Cluster, via_choices: list[Host], timeout: float = 30) -> float:
    """Seconds until a write (a node label) is accepted through any of the given managers."""
    start = time.monotonic()
    node = next(h for h in c.hosts if h.node is not None)
    i = 0
    while time.monotonic() - start < timeout:
        for via in via_choices:
            i += 1
            r = c.cli(via, "node", "update", "--label-add", f"probe={i}", f"node-{node.name}", timeout=10)
            if r.returncode == 0:
                return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError("no write was accepted")


metric = manager_metric  # (the fault tests' name for it)


def cluster_invariants(c: Cluster, via: Host, cut: Sequence[Host] = ()) -> list[str]:
    """Beyond the tasks: every connected worker whose daemon runs is ready; every reachable manager's
    own store has the same digest; no daemon logged CRITICAL."""
    problems = []
    states = {n["description"].get("hostname"): n.get("state") for n in _nodes(c, via)}
    for h in c.nodes():
        if h.node is not None and h.node.alive() and h not in cut and states.get(f"node-{h.name}") != "ready":
            problems.append(f"node-{h.name} runs and is connected but is {states.get(f'node-{h.name}')}")
    digests = {
        h.name: manager_metric(h, "svc_store_digest")
        for h in c.managers()
        if h.manager is not None and h.manager.alive() and h not in cut
    }
    if len(set(digests.values())) > 1 or None in digests.values():
        problems.append(f"the managers' stores differ: {digests}")
    for h in c.hosts:
        for d in (h.manager, h.node):
            if d is not None and " CRITICAL " in d.log():
                line = next(x for x in d.log().splitlines() if " CRITICAL " in x)
                problems.append(f"{h.name} logged: {line[:300]}")
    return problems


def _nodes(c: Cluster, via: Host) -> list[dict[str, Any]]:
    r = c.cli(via, "node", "ls", "--format", "json", timeout=30)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()] if r.returncode == 0 else []


def check_invariants(c: Cluster, desired: dict[str, int], via: Host, cut: Sequence[Host] = ()) -> list[str]:
    """What is wrong now (empty when the cluster is where it should be); `cut` hosts are off the network."""
    problems = cluster_invariants(c, via, cut)
    live_nodes = [h for h in c.nodes() if h.node is not None and h.node.alive() and h not in cut]
    tasks_by_id = {}
    for svc, want in desired.items():
        r = c.cli(via, "ps", svc, "--format", "json", timeout=30)
        if r.returncode != 0:
            return [f"ps {svc}: {r.stderr.strip()}"]
        for line in r.stdout.splitlines():
            t = json.loads(line)
            tasks_by_id[t["id"]] = t
        running = [
            t
            for t in tasks_by_id.values()
            if t.get("service_name") == svc and t["desired_state"] == "running" and t["status"]["state"] == "running"
        ]
        if len(running) != want:
            problems.append(f"{svc}: {len(running)} tasks running in the store, want {want}")
    names = {h.name: f"node-{h.name}" for h in live_nodes}
    slots: dict[str, list[str]] = {s: [] for s in desired}
    for h in live_nodes:
        for ctr in c.running_containers(h):
            labels = ctr.get("labels", {})
            svc, tid = labels.get("svc.service.name"), labels.get("svc.task.id")
            if svc not in desired:
                continue
            t = tasks_by_id.get(tid)
            if t is None or t["desired_state"] != "running":
                problems.append(f"{names[h.name]} runs {ctr['name']}, which the store does not want running")
                continue
            slots[svc].append(labels.get("svc.task.slot", ""))
    for svc, want in desired.items():
        if len(slots[svc]) != want:
            problems.append(f"{svc}: {len(slots[svc])} containers really run, want {want}")
        dup = {s for s in slots[svc] if slots[svc].count(s) > 1}
        if dup:
            problems.append(f"{svc}: slots running twice: {sorted(dup)}")
    return problems


def converge(c: Cluster, desired: dict[str, int], via: Host, timeout: float = 90, cut: Sequence[Host] = ()) -> float:
    start = time.monotonic()
    last: list[str] = []

    def ok() -> bool:
        nonlocal last
        last = check_invariants(c, desired, via, cut)
        return not last

    try:
        poll(ok, timeout, 0.5, what="invariants")
    except AssertionError:
        raise AssertionError(f"not converged after {timeout}s: {last}") from None
    return time.monotonic() - start


def state_hash(c: Cluster, via: Host, services: list[str]) -> str:
    """A digest of what must survive a restart: services' specs and their live tasks' identities."""
    doc = []
    for svc in sorted(services):
        info = json.loads(c.ok("inspect", svc, via=via))[0]
        doc.append(("service", info["id"], json.dumps(info["spec"], sort_keys=True), info["version"]))
        for t in c.json_lines("ps", svc):
            if t["desired_state"] == "running":
                doc.append(("task", t["id"], t["slot"], t["node_id"], json.dumps(t["spec"], sort_keys=True)))
    return hashlib.sha256(json.dumps(sorted(doc)).encode()).hexdigest()
