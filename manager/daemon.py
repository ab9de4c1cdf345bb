"""`svcd manager`: Raft store, control API, dispatcher, CA and the leader's loop, on one TLS port."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from svc import defaults, sdnotify, tls
from svc.errors import Unavailable
from svc.fsutil import write_atomic
from svc.join import join_address
from svc.v1 import ca_pb2_grpc, control_pb2_grpc, dispatcher_pb2_grpc

from . import bootstrap
from .auth import Authorizer
from .bootstrap import ManagerOptions, ManagerState
from .caservice import MembershipService, NodeCAService
from .controlapi import ControlService
from .core import Manager
from .dispatcher import Dispatcher
from .leader import LeaderLoop
from .logbroker import LogBroker
from .store import ops
from .store.objects import MANAGER, NodeObj
from .store.raft import RaftStore
from .store.state import StoreState

log = logging.getLogger("svcd.manager")

__all__ = ["ManagerOptions", "run_manager"]


class RunningManager:
    """A started manager: what `svcd up` and the tests hold on to."""

    def __init__(
        self,
        manager: Manager,
        server: Any,
        leader: LeaderLoop,
        tasks: list[asyncio.Task[Any]],
        extras: list[Any],
        opts: ManagerOptions,
    ) -> None:
        self.manager = manager
        self.server = server
        self.leader = leader
        self.tasks = tasks
        self.extras = extras
        self.opts = opts

    async def stop(self) -> None:
        m = self.manager
        if m.is_leader and len(m.raft.members()) > 1:
            m.raft.transfer_leadership()  # hand over before going: a new leader in ms, not after an election timeout
            await asyncio.sleep(0.2)
        self.leader.stop()
        for t in self.tasks:
            t.cancel()
        for extra in reversed(self.extras):
            await extra.stop()
        await self.server.stop(1)
        await m.close()
        await asyncio.to_thread(m.raft.close)


async def start_manager(opts: ManagerOptions) -> RunningManager:
    loop = asyncio.get_running_loop()
    saved = bootstrap.check_fresh(opts)
    os.makedirs(opts.home, mode=0o700, exist_ok=True)
    os.chmod(opts.home, 0o700)
    init_op = None
    if saved is not None:
        state_file, identity = saved, tls.Identity.load(os.path.join(opts.home, "tls"))
        if identity is None:
            raise Unavailable(f"{opts.home}/tls has no identity; the manager's files are damaged")
    elif opts.init:
        state_file, identity, init_op = bootstrap.init_cluster(opts)
        identity.save(os.path.join(opts.home, "tls"))
        state_file.save(opts.home)
    else:
        state_file, identity = await bootstrap.join_cluster(opts)
        identity.save(os.path.join(opts.home, "tls"))
        state_file.save(opts.home)

    store_state = StoreState()
    raft = await asyncio.to_thread(
        RaftStore,
        store_state,
        state_file.raft_addr,
        state_file.peers,
        os.path.join(opts.home, "raft"),
        state_file.raft_secret,
        _bind(state_file.raft_addr),
    )
    manager = Manager(
        state_file.node_id,
        identity,
        store_state,
        raft,
        state_file.api_addr,
        state_file.raft_addr,
        bootstrap.hostname(opts),
    )
    manager.metrics_addr = _reachable_metrics(opts.metrics_addr, state_file.api_addr)
    manager.attach(loop)
    raft.start()

    dispatcher = Dispatcher(manager)
    server = _server(manager, dispatcher, identity, opts)
    await server.start()
    leader = LeaderLoop(manager, dispatcher)
    tasks = [asyncio.create_task(leader.run(), name="leader-loop")]
    if init_op is not None:
        await _first_commit(manager, init_op, opts)
    tasks.append(asyncio.create_task(_keep_peers(manager, state_file, opts.home), name="keep-peers"))
    tasks.append(asyncio.create_task(_local_admin(manager, opts), name="local-admin"))
    extras: list[Any] = []
    if opts.metrics_addr:
        from .metrics import ManagerMetrics

        metrics = ManagerMetrics(manager, leader, opts.metrics_addr)
        await metrics.start()
        extras.append(metrics)
    log.info(
        "manager %s serving on %s (raft %s), cluster %s",
        state_file.node_id[:12],
        opts.listen_addr,
        state_file.raft_addr,
        state_file.cluster_id,
    )
    return RunningManager(manager, server, leader, tasks, extras, opts)


def _reachable_metrics(metrics_addr: str, api_addr: str) -> str:
    """--metrics-addr as others reach it: a wildcard host becomes this manager's advertised host."""
    if not metrics_addr:
        return ""
    host, _, port = metrics_addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = api_addr.rsplit(":", 1)[0]
    return f"{host}:{port}"


def _bind(raft_addr: str) -> str:
    return raft_addr


def _server(manager: Manager, dispatcher: Dispatcher, identity: tls.Identity, opts: ManagerOptions) -> Any:
    def observer(method: str, code: str) -> None:
        if manager.rpc_observer is not None:
            manager.rpc_observer(method, code)

    def store_role(node_id: str) -> str | None:
        node = manager.state.nodes.get(node_id)
        return None if node is None else node.role

    def revoked(node_id: str) -> bool:
        cluster = manager.cluster
        return cluster is not None and node_id in cluster.removed_nodes

    server = grpc.aio.server(
        interceptors=[Authorizer(lambda: manager.cluster_id, revoked, observer, store_role)],
        options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.http2.max_ping_strikes", 0),
        ],
    )
    control_pb2_grpc.add_ControlServicer_to_server(ControlService(manager, LogBroker(manager, dispatcher)), server)
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(dispatcher, server)
    ca_pb2_grpc.add_NodeCAServicer_to_server(NodeCAService(manager), server)
    ca_pb2_grpc.add_MembershipServicer_to_server(MembershipService(manager), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    # Two ports: the API wants a client certificate; the join port (API + 2) serves token joins without one.
    # (Python's gRPC cannot ask for an optional client certificate on one port.) The authorizer
    # lets anonymous callers do nothing but IssueCertificate and health checks, on either port.
    server.add_secure_port(opts.listen_addr, _dynamic_credentials(manager, require_client_cert=True))
    server.add_secure_port(join_address(opts.listen_addr), _dynamic_credentials(manager, require_client_cert=False))
    asyncio.get_running_loop().create_task(health.set("", health_pb2.HealthCheckResponse.SERVING))
    return server


def _dynamic_credentials(manager: Manager, require_client_cert: bool) -> Any:
    """Server TLS that picks up this manager's renewed certificate without a restart."""

    def config() -> Any:
        ident = manager.identity
        return grpc.ssl_server_certificate_configuration(
            [(ident.key_pem, ident.cert_pem + ident.ca_pem)], root_certificates=ident.ca_pem
        )

    current = {"cert": manager.identity.cert_pem}

    def fetch() -> Any:
        if manager.identity.cert_pem != current["cert"]:
            current["cert"] = manager.identity.cert_pem
            return config()
        return None

    return grpc.dynamic_ssl_server_credentials(config(), fetch, require_client_authentication=require_client_cert)


async def _first_commit(manager: Manager, init_op: ops.Op, opts: ManagerOptions) -> None:
    """A new cluster: wait to lead our one-member Raft, then write the cluster and ourselves."""
    deadline = time.monotonic() + 30
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


async def _keep_peers(manager: Manager, state: ManagerState, home: str) -> None:
    """Remember the Raft members, so a restart knows whom to talk to; renew our certificate in time."""
    renew_at = _renew_time(manager.identity)
    refresh: asyncio.Task[None] | None = None
    while True:
        await asyncio.sleep(1.0)
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
        peers = sorted({raft for _, raft, _ in manager.managers()} | {manager.raft_addr})
        if manager.cluster is not None and peers != sorted(state.peers):
            state.peers = peers
            state.save(home)
        if time.time() >= renew_at and manager.cluster is not None:
            try:
                manager.identity = manager.ca().identity(manager.node_id, MANAGER, manager.cluster.cert_lifetime)
                manager.identity.save(os.path.join(home, "tls"))
                log.info("renewed this manager's certificate (valid until %s)", time.ctime(manager.identity.expires_at))
            except Exception as exc:
                log.warning("renewing this manager's certificate: %s", exc)
            renew_at = _renew_time(manager.identity)


def _renew_time(identity: tls.Identity) -> float:
    lo, hi = defaults.CERT_RENEW_FRACTION
    life = identity.expires_at - identity.issued_at
    return identity.issued_at + life * random.uniform(lo, hi)


async def _local_admin(manager: Manager, opts: ManagerOptions) -> None:
    """Write the root-only admin credential and this manager's address for the local CLI."""
    admin_dir = os.path.join(opts.home, "admin")
    while manager.cluster is None or not manager.cluster.ca_key_pem:
        await asyncio.sleep(0.2)
    existing = tls.Identity.load(admin_dir)
    if existing is None or existing.ca_pem != manager.ca().ca_pem:
        manager.ca().identity("admin-" + manager.node_id[:12], "admin", 10 * 365 * 24 * 3600.0).save(admin_dir)
    os.makedirs(opts.run_dir, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(opts.run_dir, defaults.MANAGER_ADDR_FILE), (manager.api_addr + "\n").encode(), mode=0o600)
    write_atomic(os.path.join(opts.run_dir, defaults.MANAGER_CREDS_FILE), (admin_dir + "\n").encode(), mode=0o600)


async def run_manager(opts: ManagerOptions, stop: asyncio.Event | None = None) -> None:
    from node.daemon import install_stop_signals

    stop = stop or install_stop_signals()
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="manager"))
    running = await start_manager(opts)
    if opts.init:
        await print_join_commands(running.manager)
    sdnotify.notify("READY=1")
    try:
        demoted = asyncio.create_task(running.manager.demoted.wait())
        await asyncio.wait([asyncio.create_task(stop.wait()), demoted], return_when=asyncio.FIRST_COMPLETED)
    finally:
        sdnotify.notify("STOPPING=1")
        await running.stop()


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
