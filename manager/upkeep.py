"""A running manager's own upkeep: its first commit, its record and peers, certificate renewal
(at once when the CA's signing root or trust bundle changed: a rotation), the rotation's progress
on the leader, and the local admin credential. Each is a coroutine the composition root (svcd) starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time

from svc import defaults, tls
from svc.errors import Unavailable
from svc.fsutil import write_atomic

from . import carotation
from .bootstrap import ManagerState
from .core import Manager
from .store import ops
from .store.objects import MANAGER, NodeObj

log = logging.getLogger("svcd.manager")


def reachable_metrics(metrics_addr: str, api_addr: str) -> str:
    """--metrics-addr as others reach it: a wildcard host becomes this manager's advertised host."""
    if not metrics_addr:
        return ""
    host, _, port = metrics_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = api_addr.rsplit(":", 1)[0]
    return f"{host}:{port}"


async def first_commit(manager: Manager, init_op: ops.Op) -> None:
    """A new cluster: wait to lead our one-member Raft, then write the cluster and ourselves."""
    deadline = time.monotonic() + defaults.FIRST_LEADER_TIMEOUT_SECONDS
    while not manager.is_leader:
        if time.monotonic() > deadline:
            raise Unavailable("the new manager did not become the Raft leader")
        await asyncio.sleep(0.05)
    await manager.write(init_op)
    await manager.write(ops.node_register(_self_record(manager)))


def _self_record(manager: Manager) -> NodeObj:
    from svc.v1 import cluster_pb2 as cpb

    return NodeObj(
        id=manager.node_id,
        role=MANAGER,
        description=cpb.NodeDescription(hostname=manager.hostname),
        raft_addr=manager.raft_addr,
        api_addr=manager.api_addr,
        manager_metrics_addr=manager.metrics_addr,
    )


async def keep_peers(manager: Manager, state: ManagerState, home: str) -> None:
    """Remember the Raft members, so a restart knows whom to talk to; renew our certificate in time."""
    renew_at = _renew_time(manager.identity)
    refresh: asyncio.Task[None] | None = None
    reporting: Reporting = ("", None)
    while True:
        await asyncio.sleep(defaults.MANAGER_UPKEEP_SECONDS)
        mine = next((n for n in manager.state.node_list() if n.id == manager.node_id), None)
        # Our record says worker once this replica has caught up: we were demoted. (Records of
        # managers are written before they start, so a caught-up replica never sees them as workers.)
        if mine is not None and mine.role != MANAGER and manager.raft.is_ready:
            log.warning("this manager was demoted; stopping (run `svcd node --join ... --token ...` to work here)")
            manager.demoted.set()
            return
        stale = mine is not None and (
            mine.api_addr != manager.api_addr or mine.manager_metrics_addr != manager.metrics_addr
        )
        if stale and mine is not None and mine.role == MANAGER and (refresh is None or refresh.done()):
            # A compare-and-set on the record as read, in the background: it must neither undo a
            # demotion that lands meanwhile nor hold up this loop (a removed member's write hangs).
            change = ops.node_update(
                manager.node_id, mine.version, api_addr=manager.api_addr, manager_metrics_addr=manager.metrics_addr
            )
            refresh = manager.write_in_background(change, "refreshing this manager's record")
        state.identity = manager.identity
        cluster = manager.cluster
        stray_key = bool(state.unlock_key) and os.path.exists(os.path.join(home, "tls", "key.pem"))  # a cut seal
        if cluster is not None and manager.raft.is_ready and (cluster.unlock_key != state.unlock_key or stray_key):
            # Autolock turned on or off, or its key rotated: re-seal (or open) this manager's own keys.
            sealing = bool(cluster.unlock_key)
            state.unlock_key = cluster.unlock_key
            state.save(home)
            log.info("this manager's keys are %s", "sealed with the unlock key" if sealing else "in the clear again")
        peers = sorted({raft for _, raft, _ in manager.managers()} | {manager.raft_addr})
        if manager.cluster is not None and peers != sorted(state.peers):
            state.peers = peers
            state.save(home)
        ca_changed = _ca_changed(manager)
        if (time.time() >= renew_at or ca_changed) and manager.cluster is not None:
            if ca_changed:
                log.info("the cluster's CA changed (a root rotation): renewing this manager's certificate")
            try:
                manager.identity = manager.ca().identity(manager.node_id, MANAGER, manager.cluster.cert_lifetime)
                state.identity = manager.identity
                state.save(home)  # (sealed while autolock is on)
                log.info("renewed this manager's certificate (valid until %s)", time.ctime(manager.identity.expires_at))
            except Exception as exc:
                log.warning("renewing this manager's certificate: %s", exc)
            renew_at = _renew_time(manager.identity)
        reporting = _report_cert_root(manager, mine, reporting)
        await carotation.step(manager)


def _ca_changed(manager: Manager) -> bool:
    """This manager's certificate is not from the root that signs now, or its trust bundle is not the CA's."""
    cluster = manager.cluster
    if cluster is None or not cluster.ca_key_pem or not manager.raft.is_ready:
        return False
    ca = manager.ca()
    return manager.identity.ca_pem != ca.ca_pem or tls.issuer_digest(manager.identity) != ca.root_digest


Reporting = tuple[str, "asyncio.Task[None] | None"]


def _report_cert_root(manager: Manager, mine: NodeObj | None, reporting: Reporting) -> Reporting:
    """Record which root signed this manager's certificate, for the leader's rotation check; `reporting`
    is the (root, write) in flight, so one write at a time."""
    if mine is None or mine.role != MANAGER or not manager.raft.is_ready:
        return reporting
    root = tls.issuer_digest(manager.identity)
    busy = reporting[0] == root and reporting[1] is not None and not reporting[1].done()
    if mine.cert_root == root or busy:
        return reporting
    change = ops.node_update(manager.node_id, 0, cert_root=root)
    return root, manager.write_in_background(change, "recording this manager's certificate root")


def _renew_time(identity: tls.Identity) -> float:
    lo, hi = defaults.CERT_RENEW_FRACTION
    life = identity.expires_at - identity.issued_at
    return identity.issued_at + life * random.uniform(lo, hi)


async def local_admin(manager: Manager, home: str, run_dir: str) -> None:
    """Write the root-only admin credential and this manager's address for the local CLI, and
    keep the credential fresh: reissued for a new CA, and past the renewal fraction of its life.
    With autolock on it lives in the run dir (not at rest: a tmpfs), never in the data dir."""
    while manager.cluster is None or not manager.cluster.ca_key_pem:
        await asyncio.sleep(0.2)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(run_dir, defaults.MANAGER_ADDR_FILE), (manager.api_addr + "\n").encode(), mode=0o600)
    at_rest, in_run = os.path.join(home, "admin"), os.path.join(run_dir, "admin")
    checked = 0.0
    where = ""
    bundle = b""
    while True:
        locked = bool(manager.cluster is not None and manager.cluster.unlock_key)
        admin_dir, other = (in_run, at_rest) if locked else (at_rest, in_run)
        stale = manager.ca().ca_pem != bundle  # a CA rotation started or finished: reissue at once
        if stale or admin_dir != where or time.monotonic() - checked >= defaults.ADMIN_CERT_CHECK_SECONDS:
            bundle = manager.ca().ca_pem
            existing = tls.Identity.load(admin_dir)
            if existing is None or existing.ca_pem != manager.ca().ca_pem or _due(existing):
                admin = manager.ca().identity(
                    "admin-" + manager.node_id[:12], "admin", defaults.ADMIN_CERT_LIFETIME_SECONDS
                )
                admin.publish(admin_dir)  # as one: the local CLI may be reading it now
            write_atomic(os.path.join(run_dir, defaults.MANAGER_CREDS_FILE), (admin_dir + "\n").encode(), mode=0o600)
            tls.remove(other)  # after the pointer names admin_dir: a CLI that read it reads again (svc.control)
            where, checked = admin_dir, time.monotonic()
        await asyncio.sleep(defaults.MANAGER_UPKEEP_SECONDS)


def _due(identity: tls.Identity) -> bool:
    life = identity.expires_at - identity.issued_at
    return time.time() >= identity.issued_at + life * defaults.CERT_RENEW_FRACTION[1]


async def print_join_commands(manager: Manager) -> None:
    """On a terminal, print the join commands as `docker swarm init` does. Never into logs: under
    systemd stdout goes to the journal, and tokens must not."""
    import sys

    if not sys.stdout.isatty():
        log.info("cluster initialized; get join commands with `svc cluster join-token worker|manager`")
        return
    while manager.cluster is None:
        await asyncio.sleep(0.05)
    ca = manager.ca()
    cluster = manager.cluster
    print(
        "svc cluster initialized. To add a worker node, run on it:\n"
        f"    svcd node --join {manager.api_addr} --token {ca.token(cluster.worker_secret)}\n"
        "To add a manager:\n"
        f"    svcd manager --join {manager.api_addr} --token {ca.token(cluster.manager_secret)}",
        flush=True,
    )
