"""CA root rotation: start it, follow it, finish it (the leader does, as swarmkit's root reconciler).

The rule: a rotation is in the store (the cluster's `ca_next_*` fields), so it survives a leader
change; whichever manager leads looks at the nodes' reported certificate roots every second and,
once every node that is not down holds a certificate of the new root, makes the new root the only
one (`finish_changes`). The decision is `progress`, a pure function of the cluster record, the
nodes and the managers Raft cannot reach. Down nodes are not waited for: one that comes back after
the rotation finished holds a certificate no manager trusts any more, and joins again with a token.
Nor are unreachable managers (their records are never marked down): one that comes back catches up
through Raft, which is not TLS, finds the new root in its store and renews its own certificate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from svc import tls
from svc.errors import Conflict

from .ca import create_root, cross_sign
from .store import ops
from .store.objects import NODE_DOWN, ClusterObj, NodeObj

log = logging.getLogger("svcd.manager")


@dataclass(frozen=True)
class Progress:
    rotating: bool
    target: str = ""  # digest of the root every node must move to
    old: str = ""  # digest of the root being replaced
    counted: int = 0  # nodes waited for (not down)
    renewed: tuple[str, ...] = ()  # ids of counted nodes that hold a certificate of the target root
    pending: tuple[str, ...] = ()  # ids of counted nodes that do not yet
    down: tuple[str, ...] = ()  # ids of down nodes, not waited for

    @property
    def done(self) -> bool:
        """The rotation can be finished: nothing is pending."""
        return self.rotating and not self.pending


def progress(
    cluster: ClusterObj | None, nodes: Iterable[NodeObj], unreachable: frozenset[str] = frozenset()
) -> Progress:
    """Where a rotation stands: which nodes still hold a certificate of the old root. `unreachable`:
    the Raft addresses of managers the leader cannot reach, counted as down."""
    if cluster is None or not cluster.ca_next_cert_pem:
        return Progress(rotating=False)
    target = tls.ca_digest(cluster.ca_next_cert_pem)
    renewed, pending, down = [], [], []
    for n in sorted(nodes, key=lambda n: n.id):
        if n.state == NODE_DOWN or (n.raft_addr and n.raft_addr in unreachable):
            down.append(n.id)
        elif n.cert_root == target:
            renewed.append(n.id)
        else:
            pending.append(n.id)
    return Progress(
        rotating=True,
        target=target,
        old=tls.ca_digest(cluster.ca_cert_pem),
        counted=len(renewed) + len(pending),
        renewed=tuple(renewed),
        pending=tuple(pending),
        down=tuple(down),
    )


def start_changes(cluster: ClusterObj, now: float) -> dict[str, Any]:
    """The cluster fields that start a rotation: a new root and key, and the new root cross-signed by
    the current one. Refused (one line) while a rotation runs."""
    if cluster.ca_next_cert_pem:
        raise Conflict(
            "a CA rotation is already in progress: wait for it (`svc cluster ca` shows which nodes it waits for)"
        )
    new_pem, new_key = create_root(cluster.id, rotated=True)
    cross = cross_sign(new_pem, cluster.ca_cert_pem, cluster.ca_key_pem)
    return {"ca_next_cert_pem": new_pem, "ca_next_key_pem": new_key, "ca_cross_pem": cross, "ca_rotation_started": now}


def finish_changes(cluster: ClusterObj) -> dict[str, Any]:
    """The cluster fields that finish a rotation: the new root becomes the only one."""
    return {
        "ca_cert_pem": cluster.ca_next_cert_pem,
        "ca_key_pem": cluster.ca_next_key_pem,
        "ca_next_cert_pem": b"",
        "ca_next_key_pem": b"",
        "ca_cross_pem": b"",
        "ca_rotation_started": 0.0,
    }


def unreachable_managers(manager: Any) -> frozenset[str]:
    """The Raft addresses of members this manager has no connection to."""
    return frozenset(addr for addr, connected in manager.raft.members().items() if not connected)


async def step(manager: Any) -> None:
    """One look, on the leader: finish the rotation once `progress` says so. (Called every second by
    upkeep; a failed write is tried again at the next look.)"""
    cluster = manager.cluster
    if cluster is None or not cluster.ca_next_cert_pem or not manager.is_leader or not manager.raft.is_ready:
        return
    p = progress(cluster, manager.state.node_list(), unreachable_managers(manager))
    if not p.done:
        return
    try:
        await manager.write(ops.cluster_update(cluster.version, **finish_changes(cluster)))
    except Exception as exc:
        log.info("finishing the CA rotation: %s; trying again", exc)
        return
    took = time.time() - cluster.ca_rotation_started
    log.info(
        "CA rotation done in %.0fs: root %s replaced by %s (%d nodes renewed, %d down not waited for)",
        took,
        p.old[:12],
        p.target[:12],
        p.counted,
        len(p.down),
    )
