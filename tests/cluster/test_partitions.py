"""The cut that once left healthy workers down for good (issue #11), at 20 seeded moments.

Each round cuts the leader and one worker off — by link down inside both namespaces, or by an
iptables partition that lets the two still talk to each other — at a seeded phase of the
heartbeat period, scales through a manager on the majority side, holds the cut for a seeded
time (before, around or after the 3 s heartbeat timeout and the 3 s leader step-down), heals,
and requires within 30 s: the acknowledged count runs as real containers, no slot twice, every
connected worker ready, every manager's own store the same, no CRITICAL in any log.
Replay a failure with SVC_FAULT_SEED (printed), SVC_PARTITION_ROUNDS to run more or fewer.
"""

from __future__ import annotations

import os
import random
import time

import pytest
from faults import build, converge, leader_host, majority_manager

pytestmark = pytest.mark.cluster

FORMS = ("link-down", "partition")
WORKLOAD = "trap 'exit 0' TERM; while true; do sleep 1; done"


def test_leader_and_a_worker_cut_off_at_seeded_moments(make_cluster) -> None:  # type: ignore[no-untyped-def]
    seed = int(os.environ.get("SVC_FAULT_SEED") or random.randrange(1 << 30))
    rounds = int(os.environ.get("SVC_PARTITION_ROUNDS", "20"))
    print(f"\npartition rounds: seed {seed}, {rounds} rounds (replay: SVC_FAULT_SEED={seed})")
    rng = random.Random(seed)
    c = build(make_cluster)
    via = majority_manager(c)
    # A workload that exits on SIGTERM, as a well-behaved service does: the rounds then measure the
    # control plane, not busybox's PID 1 ignoring SIGTERM until the 10 s grace runs out.
    c.ok("create", "--name", "web", "--replicas", "6", "busybox", "sh", "-c", WORKLOAD, via=via)
    acknowledged = 6
    converge(c, {"web": acknowledged}, via, timeout=60)
    for rnd in range(rounds):
        form = FORMS[rnd % len(FORMS)]
        phase, hold, want = rng.uniform(0.0, 1.0), rng.uniform(1.5, 8.0), rng.randrange(3, 13)
        leader = leader_host(c, via) or via
        worker = rng.choice(c.nodes())
        majority = [m for m in c.managers() if m is not leader]
        print(f"round {rnd + 1}: {form} of the leader {leader.name} and {worker.name} "
              f"at +{phase:.2f}s for {hold:.1f}s, scale web={want} on the majority")
        time.sleep(phase)
        start = time.monotonic()
        if form == "link-down":
            c.net.cut(leader.netns)
            c.net.cut(worker.netns)
        else:
            c.net.partition([leader.netns, worker.netns])
        try:
            scaled = _scale_on(c, majority, want, deadline=start + 20)
        finally:
            time.sleep(max(0.0, hold - (time.monotonic() - start)))
            if form == "link-down":
                c.net.uncut(leader.netns)
                c.net.uncut(worker.netns)
            else:
                c.net.heal()
        assert scaled, f"round {rnd + 1}: no manager on the majority side accepted `svc scale web={want}`"
        acknowledged = want
        via = majority[0]
        took = converge(c, {"web": acknowledged}, via, timeout=30)
        print(f"  converged {took:.1f}s after the heal")


def _scale_on(c, managers, want: int, deadline: float) -> bool:  # type: ignore[no-untyped-def]
    """`svc scale -d` through the majority's managers until one says it is done; its exit status is
    the truth (a write that fails is retried, a write that succeeds is what must run)."""
    while time.monotonic() < deadline:
        for m in managers:
            r = c.cli(m, "scale", "-d", f"web={want}", timeout=15)
            if r.returncode == 0:
                return True
        time.sleep(0.2)
    return False
