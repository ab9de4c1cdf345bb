"""The store replicated with Raft (pysyncobj). The only module that imports pysyncobj.

- One replicated entry point, `apply(op)`; the op encoding is ours (see ops.py).
- Our own tick thread drives pysyncobj (`autoTick=False`), so its life does not depend on
  whichever thread built the object.
- Snapshots are written by our serializer in that thread: no fork (gRPC forbids fork once
  started), our own format, fsync before the atomic rename.
- The transport is encrypted and authenticated with a key from the cluster secret, bound to
  the advertised address; a leader that loses its quorum steps down after a few seconds.
- `barrier()` commits a no-op: a read after it sees every write committed before it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import logging
import os
import pickle
import threading
import time
from typing import Any

import pysyncobj.syncobj as _pysyncobj_module
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, SyncObjException, replicated
from pysyncobj.journal import FileJournal as _OldFileJournal
from pysyncobj.transport import TCPTransport

from svc import defaults
from svc.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    OutOfDate,
    PermissionDenied,
    SvcError,
    Unavailable,
)
from svc.keywrap import AtRest

from . import ops, raftlog
from .journal import DurableJournal
from .state import StoreState

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[SvcError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "OutOfDate": OutOfDate,
    "InvalidArgument": InvalidArgument,
    "Conflict": Conflict,
    "PermissionDenied": PermissionDenied,
}
_FAIL_TEXT = {
    FAIL_REASON.QUEUE_FULL: "the Raft queue is full",
    FAIL_REASON.MISSING_LEADER: "no Raft leader (no quorum?)",
    FAIL_REASON.DISCARDED: "the write was discarded by a leader change",
    FAIL_REASON.NOT_LEADER: "this manager is not the Raft leader",
    FAIL_REASON.LEADER_CHANGED: "the Raft leader changed; the write may or may not have applied",
    FAIL_REASON.REQUEST_DENIED: "the Raft request was denied",
    FAIL_REASON.UNKNOWN_OUTCOME: "the Raft leader lost track of the write; it may or may not have applied",
}
SNAPSHOT_FORMAT = 1


class _AuditedEncryptor:
    """The Raft key, checking one incoming connection: a peer without the key is logged, then dropped.

    (pysyncobj drops such a peer silently.) Nothing from it is ever unpickled: decryption and
    its authentication come first.
    """

    def __init__(self, inner: Any, peer: str) -> None:
        self._inner = inner
        self._peer = peer
        self._logged = False

    def encrypt_at_time(self, data: bytes, at: int) -> bytes:
        return bytes(self._inner.encrypt_at_time(data, at))

    def _audit(self, fn: Any, data: bytes) -> Any:
        try:
            return fn(data)
        except Exception:
            if not self._logged:
                self._logged = True
                log.warning("refused a Raft connection from %s: it does not hold this cluster's Raft key", self._peer)
            raise

    def extract_timestamp(self, data: bytes) -> int:
        return int(self._audit(self._inner.extract_timestamp, data))

    def decrypt(self, data: bytes) -> bytes:
        return bytes(self._audit(self._inner.decrypt, data))


class _AuditedTransport(TCPTransport):
    def _onNewIncomingConnection(self, conn: Any) -> None:
        super()._onNewIncomingConnection(conn)
        if conn.encryptor is not None:
            try:
                host, port = conn._TcpConnection__socket.getpeername()[:2]
                peer = f"{host}:{port}"
            except (OSError, AttributeError, TypeError):
                peer = "an unknown address"
            conn.encryptor = _AuditedEncryptor(conn.encryptor, peer)


class _Replicator(SyncObjConsumer):
    """pysyncobj's consumer: one replicated method, nothing else."""

    def __init__(self, state: StoreState) -> None:
        super().__init__()
        self._state = state
        self.entry_term: Any = lambda: None  # set once the SyncObj exists

    @replicated
    def apply(self, op: dict[str, Any]) -> Any:
        return self._state.apply(op, self.entry_term())


def _applying_entry_term(sync: SyncObj) -> int | None:
    """The Raft term of the log entry being applied (pysyncobj applies entry lastApplied + 1 and
    counts it applied afterwards). pysyncobj passes no entry metadata to the state machine, so this
    reads its private log, pinned to pysyncobj 0.3.17; tests/unit/test_raft_fence.py checks it."""
    index = sync._SyncObj__raftLastApplied + 1
    entries = sync._SyncObj__getEntries(index, 1)
    if not entries or entries[0][1] != index:
        log.error("no Raft log entry %d while applying it: decisions are not fenced", index)
        return None
    return int(entries[0][2])


def result_value(result: Any) -> Any:
    """Turn an apply result into a value or the svc error it stands for."""
    code, value = result
    if not code:
        return value
    raise _ERRORS.get(code, SvcError)(str(value))


JOURNALS = ("durable", "pysyncobj")  # pysyncobj: the old mmap journal, never synced (bench and tests only)


def _journal_kind() -> str:
    kind = os.environ.get("SVC_RAFT_JOURNAL", "durable")
    if kind not in JOURNALS:
        raise InvalidArgument(f"SVC_RAFT_JOURNAL={kind!r}: use one of {', '.join(JOURNALS)}")
    return kind


_original_create_journal = _pysyncobj_module.createJournal


def _create_journal(path: str | None) -> Any:
    """pysyncobj's journal factory (it takes only a path): ours for our durable journal files."""
    if path is not None and path.endswith(WAL_NAME):
        return DurableJournal(path, os.path.join(os.path.dirname(path), SNAPSHOT_NAME), _CIPHERS.get(path))
    return _original_create_journal(path)


# pysyncobj builds its journal with `createJournal(conf.journalFile)`, a module global: the one
# seam it has. Our factory hands back pysyncobj's own journal for any other path.
_pysyncobj_module.createJournal = _create_journal
# The at-rest cipher of each journal path, set by RaftStore before pysyncobj opens the journal.
_CIPHERS: dict[str, AtRest] = {}
SNAPSHOT_MAGIC = b"SVCSNAP2"  # then a nonce and the gzip-pickled snapshot, AES-256-GCM (svc/keywrap.py)
WAL_NAME, SNAPSHOT_NAME, OLD_JOURNAL_NAME = "raft.wal", "raft.snapshot", "raft.journal"


def _migrate_old_journal(data_dir: str, cipher: AtRest | None = None) -> None:
    """A data dir from before the durable journal: copy pysyncobj's journal into ours, once."""
    old, new = os.path.join(data_dir, OLD_JOURNAL_NAME), os.path.join(data_dir, WAL_NAME)
    if not os.path.exists(old) or os.path.exists(new):
        return
    source = _OldFileJournal(old)
    target = DurableJournal(new + ".migrating", os.path.join(data_dir, SNAPSHOT_NAME), cipher)
    for i in range(len(source)):
        target.add(*source[i])
    target.setCurrentTerm(source.getCurrentTerm(), source.getVotedForNodeId())
    target.setRaftCommitIndex(source.getRaftCommitIndex())
    target._destroy()
    source._destroy()
    os.replace(new + ".migrating.meta", new + ".meta")
    os.replace(new + ".migrating", new)
    os.replace(old, old + ".migrated")
    log.info("moved the Raft journal %s (%d entries) to the durable journal %s", old, len(source), new)


def read_snapshot(path: str, cipher: AtRest | None) -> Any:
    """A snapshot file's document: encrypted (SNAPSHOT_MAGIC) or, written before encryption, gzip."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(SNAPSHOT_MAGIC):
        if cipher is None:
            raise ValueError(f"{path} is encrypted: it needs the cluster's Raft key")
        data = cipher.open_blob(data, SNAPSHOT_MAGIC)
    return pickle.loads(gzip.decompress(data))


def load_offline(data_dir: str, secret: str | None = None) -> StoreState:
    """The store as this manager's disk holds it (snapshot, then every journal entry after it), without
    starting Raft: what `--force-new-cluster` recovers. Entries past the last known commit are
    included, as Swarm does: the log of the last manager standing is the cluster's history."""
    from pysyncobj.pickle import loads as pysyncobj_loads

    state = StoreState()
    covered = 0
    cipher = AtRest(secret) if secret else None
    snapshot = os.path.join(data_dir, SNAPSHOT_NAME)
    if os.path.exists(snapshot):
        doc = read_snapshot(snapshot, cipher)
        state.load_plain(doc["state"])
        covered = int(doc["raft"][0][1])  # pysyncobj's last applied entry: (command, index, term)
    wal, old = os.path.join(data_dir, WAL_NAME), os.path.join(data_dir, OLD_JOURNAL_NAME)
    journal: Any = DurableJournal(wal, snapshot, cipher) if os.path.exists(wal) else _OldFileJournal(old)
    try:
        for command, idx, term in journal[:]:
            if idx <= covered or not command or command[0] != _REGULAR_COMMAND:
                continue  # covered by the snapshot, or a no-op / membership entry
            call = pysyncobj_loads(command[1:])
            args = call[1] if isinstance(call, tuple) and len(call) > 1 else ()
            if args:
                state.apply(args[0], entry_term=term)
    finally:
        journal._destroy()
    return state


_REGULAR_COMMAND = 0  # pysyncobj's _COMMAND_TYPE.REGULAR, the first byte of a replicated call


class _RaftSafeSyncObj(SyncObj):
    """SyncObj whose follower keeps the Raft rules raftlog.py restores (it says why).

    pysyncobj registers `self.__onMessageReceived` with its transport in __init__; the name is
    mangled to `_SyncObj__onMessageReceived`, so defining that name here intercepts every message."""

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:
        if (
            isinstance(message, dict)
            and message.get("type") == "append_entries"
            and message.get("term", -1) >= self.raftCurrentTerm
        ):
            message = raftlog.no_commit_without_check(message)
            if "prevLogIdx" in message and "transmission" not in message:
                message = raftlog.keep_known(
                    message,
                    self._SyncObj__raftCommitIndex,
                    self._SyncObj__getCurrentLogIndex(),
                    lambda start, count: list(self._SyncObj__getEntries(start, count)),
                )
        super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]

    # ----- group commit: one sync per tick, before anything counts the entries -----

    _acks: list[tuple[Any, dict[str, Any]]]

    def _SyncObj__sendNextNodeIdx(
        self, node: Any, reset: bool = False, nextNodeIdx: Any = None, success: bool = False
    ) -> None:
        """A follower's acknowledgement of entries waits for this tick's sync (see _checkCommandsToApply)."""
        if nextNodeIdx is None:
            nextNodeIdx = self._SyncObj__getCurrentLogIndex() + 1
        ack = {"reset": reset, "nextNodeIdx": nextNodeIdx, "success": success}
        if not success or not isinstance(self._SyncObj__raftLog, DurableJournal):
            SyncObj._SyncObj__sendNextNodeIdx(self, node, **ack)  # type: ignore[attr-defined]
            return
        if not hasattr(self, "_acks"):
            self._acks = []
        self._acks.append((node, ack))

    def _checkCommandsToApply(self) -> None:
        """pysyncobj calls this once a tick, after the leader appended this tick's commands and before
        it sleeps: the durable point. The leader counts its own log only in a later tick's commit
        step, a follower's acknowledgements are sent only now: both after the sync."""
        super()._checkCommandsToApply()
        self.durable_point()
        if self._alone_with_uncommitted():
            # Nothing else would wake this tick's poll: a leader without other members commits its
            # own (now durable) entries in the next tick's commit step, which would otherwise come a
            # whole poll timeout later (every write and barrier on a one-manager cluster paid ~50 ms).
            self._SyncObj__pipeNotifier.notify()

    def _alone_with_uncommitted(self) -> bool:
        return (
            not self.otherNodes
            and self._isLeader()
            and self._SyncObj__raftCommitIndex < self._SyncObj__getCurrentLogIndex()
            and hasattr(self, "_SyncObj__pipeNotifier")
        )

    def durable_point(self) -> None:
        """Sync the journal, then send the acknowledgements that waited for it. Also called before
        every tick (raft.py): entries a message appended during the last tick's poll are durable
        before the leader's commit step counts them."""
        journal = self._SyncObj__raftLog
        if isinstance(journal, DurableJournal):
            journal.sync()
        acks, self._acks = getattr(self, "_acks", []), []
        for node, ack in acks:
            SyncObj._SyncObj__sendNextNodeIdx(self, node, **ack)  # type: ignore[attr-defined]


class RaftStore:
    def __init__(
        self,
        state: StoreState,
        self_addr: str,
        peers: list[str],
        data_dir: str,
        secret: str,
        bind_addr: str | None = None,
    ) -> None:
        self.state = state
        self.self_addr = self_addr
        self.data_dir = data_dir
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        self._snapshot_path = os.path.join(data_dir, SNAPSHOT_NAME)
        self.journal_kind = _journal_kind()
        self._at_rest = AtRest(secret)
        _CIPHERS[os.path.join(data_dir, WAL_NAME)] = self._at_rest
        if self.journal_kind == "durable":
            _migrate_old_journal(data_dir, self._at_rest)
        journal_name = WAL_NAME if self.journal_kind == "durable" else OLD_JOURNAL_NAME
        conf = SyncObjConf(
            password=secret,
            bindAddress=bind_addr or self_addr,
            autoTick=False,
            appendEntriesUseBatch=False,  # ~1 ms commits instead of ~100 ms; we batch in ops ourselves
            dynamicMembershipChange=True,
            leaderFallbackTimeout=defaults.RAFT_LEADER_FALLBACK_SECONDS,
            raftMinTimeout=defaults.RAFT_ELECTION_MIN_SECONDS,
            raftMaxTimeout=defaults.RAFT_ELECTION_MAX_SECONDS,
            connectionTimeout=defaults.RAFT_CONNECTION_TIMEOUT_SECONDS,
            connectionRetryTime=defaults.RAFT_CONNECTION_RETRY_SECONDS,
            journalFile=os.path.join(data_dir, journal_name),
            fullDumpFile=self._snapshot_path,
            useFork=False,
            serializer=self._serialize,
            deserializer=self._deserialize,
            logCompactionMinEntries=defaults.RAFT_COMPACTION_MIN_ENTRIES,
            logCompactionMinTime=defaults.RAFT_COMPACTION_MIN_SECONDS,
            commandsQueueSize=defaults.RAFT_QUEUE_SIZE,
            # One bind attempt: pysyncobj would otherwise retry a port in use forever, in a busy loop
            # inside its constructor (holding the GIL). The daemon checks the port first; this is the guard.
            maxBindRetries=1,
            # A write proposed while there is no leader fails at once (MISSING_LEADER) instead of
            # waiting in pysyncobj's queue for whichever leader comes next: a deposed leader's
            # decisions must not reach the next leader's log (docs/architecture.md, "Fencing").
            commandsWaitLeader=False,
        )
        self._replicator = _Replicator(state)
        try:
            self._sync = _RaftSafeSyncObj(
                self_addr,
                [p for p in peers if p != self_addr],
                conf=conf,
                consumers=[self._replicator],
                transportClass=_AuditedTransport,
            )
        except SyncObjException:
            raise Unavailable(f"raft port {conf.bindAddress} is in use (or not an address of this host)") from None
        sync = self._sync
        self._replicator.entry_term = lambda: _applying_entry_term(sync)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="raft-tick", daemon=True)
        self._membership_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.is_set():
            try:
                # Commands wake the poller through its pipe at once; the timeout only paces
                # timers (elections, heartbeats every 0.1 s), so a longer wait costs no latency.
                self._sync.durable_point()
                self._sync.doTick(defaults.RAFT_TICK_SECONDS)
            except Exception:
                log.exception("raft tick failed")
                time.sleep(defaults.RAFT_TICK_SECONDS)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sync.destroy()

    # ----- snapshots (called on the tick thread) -----

    def _serialize(self, path: str, raft_data: Any) -> None:
        # Encrypted at rest: the store holds the CA key and the join secrets (docs/security.md, "Autolock").
        doc = {"format": SNAPSHOT_FORMAT, "state": self.state.to_plain(), "raft": raft_data}
        raw = gzip.compress(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL), compresslevel=1)
        with open(path, "wb") as f:
            f.write(self._at_rest.blob(raw, SNAPSHOT_MAGIC))
            f.flush()
            os.fsync(f.fileno())

    def _deserialize(self, path: str) -> Any:
        doc = read_snapshot(path, self._at_rest)
        if doc.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {doc.get('format')}")
        self.state.load_plain(doc["state"])
        return doc["raft"]

    # ----- status -----

    @property
    def is_ready(self) -> bool:
        """This replica has caught up with the leader at least once since it started."""
        return bool(self._sync.isReady())

    @property
    def is_leader(self) -> bool:
        return bool(self._sync._isLeader())

    @property
    def leader(self) -> str | None:
        node = self._sync._getLeader()
        return None if node is None else str(node.address)

    @property
    def term(self) -> int:
        return int(self._sync.raftCurrentTerm)

    @property
    def commit_index(self) -> int:
        return int(self._sync.raftCommitIndex)

    def members(self) -> dict[str, bool]:
        """Raft member address -> connected (this manager counts as connected)."""
        out = {self.self_addr: True}
        for node in self._sync.otherNodes:
            out[str(node.address)] = bool(self._sync.isNodeConnected(node))
        return out

    def log_size(self) -> int:
        return int(self._sync._getRaftLogSize())

    # ----- writes -----

    def propose(self, op: dict[str, Any]) -> concurrent.futures.Future[Any]:
        """Submit an op; the future resolves to the apply result or raises Unavailable."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def done(result: Any, error: int) -> None:
            if fut.done():
                return
            if error == FAIL_REASON.SUCCESS:
                fut.set_result(result)
            else:
                fut.set_exception(Unavailable(_FAIL_TEXT.get(error, f"Raft failure {error}")))

        self._replicator.apply(op, callback=done)
        return fut

    async def write(
        self,
        op: dict[str, Any],
        timeout: float = defaults.RAFT_COMMIT_TIMEOUT_SECONDS,
        retries: int = defaults.RAFT_WRITE_RETRIES,
    ) -> Any:
        """Commit `op` and return its value; retried with the same key (so it applies once)."""
        delay = defaults.RAFT_RETRY_FIRST_SECONDS
        for attempt in range(retries + 1):
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(self.propose(op)), timeout)
                return result_value(result)
            except TimeoutError:
                err: SvcError = DeadlineExceeded("the write did not commit in time; it may still apply")
            except Unavailable as exc:
                err = exc
            if attempt == retries:
                raise err
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def barrier(self) -> None:
        """After this returns, local reads include every write committed before the call."""
        await self.write(ops.noop(), retries=0)

    # ----- membership (serialised: pysyncobj's own guard against concurrent changes is not effective) -----

    def _membership(self, fn: Any, addr: str) -> None:
        with self._membership_lock:
            done = threading.Event()
            outcome: list[int] = []

            def cb(_: Any, error: int) -> None:
                outcome.append(error)
                done.set()

            fn(addr, callback=cb)
            if not done.wait(defaults.RAFT_COMMIT_TIMEOUT_SECONDS):
                raise Unavailable(f"changing Raft membership ({addr}) timed out")
            if outcome[0] != FAIL_REASON.SUCCESS:
                raise Unavailable(f"changing Raft membership ({addr}) failed: {_FAIL_TEXT.get(outcome[0], outcome[0])}")

    def add_member(self, addr: str) -> None:
        self._membership(self._sync.addNodeToCluster, addr)

    def remove_member(self, addr: str) -> None:
        self._membership(self._sync.removeNodeFromCluster, addr)

    def transfer_leadership(self) -> None:
        self._sync.transferLeadership()
