"""A manager, assembled from its parts: used by `svcd manager`, `svcd up` and a promoted node.

Order of start-up, and the rule behind it: every address is checked before anything is
written (a port in use leaves no half-made cluster); then identity, Raft store, server,
leader loop, upkeep and metrics, each registered on the manager's own exit stack the moment
it exists, so `stop()` — or a failure halfway — unmakes exactly what was made, in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from typing import Any

from manager import autolock, bootstrap, server, upkeep
from manager.bootstrap import ManagerOptions, ManagerState
from manager.core import Manager
from manager.dispatcher import Dispatcher
from manager.heartbeatudp import open_endpoint
from manager.imagepin import ImagePinner
from manager.leader import LeaderLoop
from manager.store import ops
from manager.store.raft import RaftStore
from manager.store.state import StoreState
from svc import defaults, tls
from svc.errors import Unavailable
from svc.join import join_address
from svc.netaddr import check_bindable

log = logging.getLogger("svcd.manager")


class RunningManager:
    """A started manager; `stop()` undoes its start-up in reverse."""

    def __init__(self, manager: Manager, opts: ManagerOptions, stack: contextlib.AsyncExitStack) -> None:
        self.manager = manager
        self.opts = opts
        self._stack = stack

    async def stop(self) -> None:
        await self._stack.aclose()


def preflight(opts: ManagerOptions, saved: ManagerState | None) -> None:
    """Every address this manager will listen on is free, before anything is written."""
    raft_addr = saved.raft_addr if saved is not None else bootstrap.addresses(opts)[1]
    check_bindable(opts.listen_addr, "API address")
    check_bindable(join_address(opts.listen_addr), "join address")
    check_bindable(raft_addr, "raft port")
    if opts.metrics_addr:
        check_bindable(opts.metrics_addr, "metrics address")
    if opts.docker_tcp:
        check_bindable(opts.docker_tcp, "Docker API address")


async def _identity(
    opts: ManagerOptions, saved: ManagerState | None, restored: dict[str, Any] | None
) -> tuple[ManagerState, tls.Identity, ops.Op | None]:
    """(state, identity, the first op or None): resumed, a new cluster (from a backup), or joined."""
    tls_dir = os.path.join(opts.home, "tls")
    if saved is not None:
        identity = saved.identity or tls.Identity.load(tls_dir)
        if identity is None:
            raise Unavailable(f"{tls_dir} has no identity; the manager's files are damaged")
        return saved, identity, None
    if opts.init and restored is not None:
        state, identity, init_op = bootstrap.restore_cluster(opts, restored)
    elif opts.init:
        state, identity, init_op = bootstrap.init_cluster(opts)
    else:
        state, identity = await bootstrap.join_cluster(opts)
        init_op = None
    state.identity = identity
    state.save(opts.home)  # (a new manager: autolock is off until the store says otherwise)
    return state, identity, init_op


async def start_manager(opts: ManagerOptions) -> RunningManager:
    saved = bootstrap.check_fresh(opts)
    preflight(opts, saved)
    if saved is not None and saved.locked:
        # Autolock: the Raft secret and the TLS key are sealed; nothing listens but the unlock socket.
        await autolock.wait_unlocked(saved, opts.home, opts.run_dir)
    # A backup is decrypted and checked before anything is written: a bad one leaves nothing behind.
    restored: dict[str, Any] | None = None
    if opts.restore and saved is None:
        restored = await asyncio.to_thread(bootstrap.read_backup, opts)
    os.makedirs(opts.home, mode=0o700, exist_ok=True)
    os.chmod(opts.home, 0o700)
    state_file, identity, init_op = await _identity(opts, saved, restored)
    if restored is not None:
        log.warning("a new cluster from the backup %s: the old cluster's managers are not part of it", opts.restore)
    if opts.force_new_cluster and saved is not None:
        state_file, init_op = await asyncio.to_thread(bootstrap.force_new_cluster, opts, saved)
        log.warning("forcing a new cluster from this manager's state: the other managers left it")
    async with contextlib.AsyncExitStack() as stack:
        store_state = StoreState()
        raft = await asyncio.to_thread(
            RaftStore,
            store_state,
            state_file.raft_addr,
            state_file.peers,
            os.path.join(opts.home, "raft"),
            state_file.raft_secret,
        )
        stack.push_async_callback(asyncio.to_thread, raft.close)
        m = Manager(
            state_file.node_id,
            identity,
            store_state,
            raft,
            state_file.api_addr,
            state_file.raft_addr,
            bootstrap.hostname(opts),
        )
        stack.push_async_callback(m.close)
        m.metrics_addr = upkeep.reachable_metrics(opts.metrics_addr, state_file.api_addr)
        m.attach(asyncio.get_running_loop())
        raft.start()

        dispatcher = Dispatcher(m)
        grpc_server, control = server.build(
            m, dispatcher, opts.listen_addr, ImagePinner(opts.home, opts.insecure_registries, opts.registry_mirrors)
        )
        await grpc_server.start()
        stack.push_async_callback(grpc_server.stop, 1)
        udp = await open_endpoint(dispatcher, opts.listen_addr, opts.heartbeat_udp_port)
        if udp is not None:
            stack.callback(udp.close)
        if opts.docker_socket or opts.docker_tcp:
            from manager.engineapi.server import EngineAPI

            engine_api = EngineAPI(m, control)
            stack.push_async_callback(engine_api.stop)
            if opts.docker_socket:
                await engine_api.start(os.path.join(opts.run_dir, opts.docker_socket))
            if opts.docker_tcp:
                await engine_api.start_tcp(opts.docker_tcp)
        leader = LeaderLoop(m, dispatcher)
        _task(stack, leader.run(), "leader-loop")
        stack.callback(leader.stop)
        if init_op is not None:
            await upkeep.first_commit(m, init_op)
        _task(stack, upkeep.keep_peers(m, state_file, opts.home), "keep-peers")
        _task(stack, upkeep.local_admin(m, opts.home, opts.run_dir), "local-admin")
        if opts.metrics_addr:
            from manager.metrics import ManagerMetrics

            metrics = ManagerMetrics(m, leader, opts.metrics_addr)
            await metrics.start()
            stack.push_async_callback(metrics.stop)
        stack.push_async_callback(_hand_over, m)  # runs first on stop
        log.info(
            "manager %s serving on %s (raft %s), cluster %s",
            state_file.node_id[:12],
            opts.listen_addr,
            state_file.raft_addr,
            state_file.cluster_id,
        )
        return RunningManager(m, opts, stack.pop_all())
    raise AssertionError("unreachable")


def _task(stack: contextlib.AsyncExitStack, coro: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.create_task(coro, name=name)
    stack.callback(task.cancel)


async def _hand_over(m: Manager) -> None:
    """A leader that stops hands over first: a new leader in ms, not after an election timeout."""
    if m.is_leader and len(m.raft.members()) > 1:
        m.raft.transfer_leadership()
        await asyncio.sleep(defaults.LEADER_HANDOVER_SECONDS)
