"""The fence through real pysyncobj: the store sees the term of the log entry it applies.

The entry's term is read from pysyncobj's private log (pinned version); this test fails if that
stops working, rather than the fence silently turning off."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from manager.store import ops
from manager.store.raft import RaftStore
from manager.store.state import StoreState
from svc.errors import OutOfDate


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_decision_of_another_term_is_refused_by_a_real_raft_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = StoreState()
    addr = f"127.0.0.1:{_port()}"
    raft = RaftStore(state, addr, [addr], os.path.join(str(tmp_path), "raft"), "k" * 64)
    raft.start()

    async def scenario() -> None:
        for _ in range(200):
            if raft.is_leader:
                break
            await asyncio.sleep(0.05)
        assert raft.is_leader
        await raft.write(ops.cluster_init({"id": "c1"}))
        from clusterfixtures import node

        await raft.write(ops.node_register(node("a")))
        term = raft.term
        with pytest.raises(OutOfDate, match=f"term {term - 1 if term > 1 else term + 1}"):
            await raft.write(ops.node_states([("n-a", "down", "x")], term=term - 1 if term > 1 else term + 1))
        assert state.nodes["n-a"].state == "ready"
        await raft.write(ops.node_states([("n-a", "down", "x")], term=term))
        assert state.nodes["n-a"].state == "down"

    try:
        asyncio.run(scenario())
    finally:
        raft.close()
