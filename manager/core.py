"""What every manager component shares: the store, the Raft handle, this manager's identity.

Components (control API, dispatcher, CA service, leader loop) receive a `Manager` and use
only its public methods; none reaches into another component.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from svc import defaults, tls
from svc.errors import Unavailable

from .ca import CertificateAuthority, from_cluster
from .store import ops
from .store.objects import MANAGER, ClusterObj
from .store.raft import RaftStore
from .store.state import Changes, Snapshot, StoreState

log = logging.getLogger(__name__)


class Manager:
    def __init__(
        self,
        node_id: str,
        identity: tls.Identity,
        state: StoreState,
        raft: RaftStore,
        api_addr: str,
        raft_addr: str,
        hostname: str,
    ) -> None:
        self.node_id = node_id
        self.identity = identity
        self.state = state
        self.raft = raft
        self.api_addr = api_addr
        self.raft_addr = raft_addr
        self.hostname = hostname
        self.metrics_addr = ""  # reachable form of --metrics-addr, for service discovery
        self._ca: tuple[int, CertificateAuthority] | None = None
        self._channels: dict[str, Any] = {}
        self._channels_for: tls.Identity = identity
        self._listeners: list[Callable[[str, Changes], None]] = []
        self._managers_cache: tuple[int, list[tuple[str, str, str]]] = (-1, [])
        self.rpc_observer: Callable[[str, str], None] | None = None  # (method, status code name), for metrics
        self.loop: asyncio.AbstractEventLoop | None = None
        self.demoted = asyncio.Event()  # set when this manager learns it was demoted
        self._background: set[asyncio.Task[None]] = set()

    # ----- store -----

    def snapshot(self) -> Snapshot:
        return self.state.snapshot()

    @property
    def cluster(self) -> ClusterObj | None:
        return self.state.cluster

    @property
    def cluster_id(self) -> str:
        return self.identity.cluster_id

    @property
    def is_leader(self) -> bool:
        return self.raft.is_leader

    async def write(self, op: ops.Op) -> Any:
        return await self.raft.write(op)

    def write_in_background(self, op: ops.Op, what: str, attempts: int = 1) -> asyncio.Task[None]:
        """A write its caller must not wait for (it can wait out an election); failures are logged, not raised."""

        async def run() -> None:
            for attempt in range(1, attempts + 1):
                try:
                    await self.write(op)
                    return
                except Exception as exc:
                    log.info("%s: %s%s", what, exc, "; retrying" if attempt < attempts else "")
                    if attempt < attempts:
                        await asyncio.sleep(0.5)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._background.discard)
        return task

    async def barrier(self) -> None:
        await self.raft.barrier()

    def on_change(self, listener: Callable[[str, Changes], None]) -> None:
        """Listeners run on the event loop, after each applied write that changed something."""
        self._listeners.append(listener)

    def _dispatch_change(self, op: str, changes: Changes) -> None:
        # Called on the Raft tick thread: hand over to the loop, never work here.
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._fire, op, changes)

    def _fire(self, op: str, changes: Changes) -> None:
        for listener in self._listeners:
            try:
                listener(op, changes)
            except Exception:
                log.exception("change listener failed")

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.state.listener = self._dispatch_change

    # ----- cluster facts -----

    def ca(self) -> CertificateAuthority:
        cluster = self.cluster
        if cluster is None or not cluster.ca_key_pem:
            raise Unavailable("this manager has not received the cluster CA yet")
        if self._ca is None or self._ca[0] != cluster.version:
            self._ca = (cluster.version, from_cluster(cluster))
        return self._ca[1]

    def managers(self, snap: Snapshot | None = None) -> list[tuple[str, str, str]]:
        """(node id, raft address, API address) of every manager in the store (cached per store version:
        every heartbeat answer carries the list)."""
        if snap is not None:
            nodes = list(snap.nodes.values())
        else:
            seq = self.state.seq
            if self._managers_cache[0] == seq:
                return self._managers_cache[1]
            nodes = self.state.node_list()
        found = sorted((n.id, n.raft_addr, n.api_addr) for n in nodes if n.role == MANAGER and n.raft_addr)
        if snap is None:
            self._managers_cache = (seq, found)
        return found

    def manager_api_addrs(self) -> list[str]:
        return [api for _, _, api in self.managers() if api]

    def leader_api_addr(self) -> str | None:
        leader = self.raft.leader
        if leader is None:
            return None
        if leader == self.raft_addr:
            return self.api_addr
        for _, raft_addr, api in self.managers():
            if raft_addr == leader:
                return api
        return None

    def leader_node_id(self) -> str:
        leader = self.raft.leader
        for node_id, raft_addr, _ in self.managers():
            if raft_addr == leader:
                return node_id
        return ""

    # ----- talking to other managers -----

    def channel(self, addr: str) -> Any:
        """A cached channel to another manager, made anew once this manager's identity changed (a renewal,
        a CA rotation): a reconnect of the old one would present a certificate peers may no longer trust."""
        if self._channels_for is not self.identity:
            old = list(self._channels.values())
            self._channels.clear()
            self._channels_for = self.identity
            if old and self.loop is not None:
                # Calls in flight on the old channels finish first: close them a while later.
                self.loop.call_later(defaults.FORWARD_TIMEOUT_SECONDS * 2, self._close_later, old)
        ch = self._channels.get(addr)
        if ch is None:
            ch = self._channels[addr] = tls.secure_channel(addr, self.identity)
        return ch

    def _close_later(self, channels: list[Any]) -> None:
        for ch in channels:
            task = asyncio.ensure_future(ch.close())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def leader_channel(self, failed: str | None = None, timeout: float | None = None) -> Any:
        """A channel to the current leader, waiting through an election (see `leader_address`)."""
        return self.channel(await self.leader_address(failed, timeout))

    async def leader_address(self, failed: str | None = None, timeout: float | None = None) -> str:
        """The leader's API address, waiting up to `timeout` (default LEADER_WAIT_SECONDS) for one.

        `failed` is a leader address a call just could not reach: after a leader dies, Raft on this
        manager still names it until the election times out, so wait for another leader instead of
        handing the dead one back. Raises Unavailable if this manager leads (run the call here) or if
        no usable leader appeared in time.
        """
        wait = defaults.LEADER_WAIT_SECONDS if timeout is None else max(0.0, timeout)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            if self.is_leader:
                raise Unavailable("this manager became the leader")
            addr = self.leader_api_addr()
            if addr and addr != self.api_addr and addr != failed:
                return addr
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(defaults.LEADER_POLL_SECONDS)  # Raft has no leader-change event to wait on
        if addr and addr == failed:
            raise Unavailable(f"leader {failed} is unreachable and no other manager has taken over")
        raise Unavailable("no leader: the managers have no quorum")

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()
