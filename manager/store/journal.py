"""The Raft journal, durable: an entry is on stable storage before anyone counts it.

pysyncobj's own journal is an mmap that is never synced, so a power cut of a majority of
managers loses writes `svc` reported done. This one has pysyncobj's journal interface (raft.py
plugs it in; this module does not import pysyncobj) and these rules:

- Appends and truncations go to the file at once but are made durable together by `sync()`
  (one fdatasync for every entry since the last): group commit. raft.py calls it once per Raft
  tick, before the leader counts its own log towards a commit and before a follower
  acknowledges entries, so an acknowledged write is on disk on a majority.
- The current term and vote are written and fsynced (file and directory) before they are used.
- Records carry a CRC: a journal cut or damaged at its tail (a power cut mid-write) is read up
  to its longest valid prefix, the rest dropped and logged, never applied as garbage.
- Compaction (after a snapshot) first makes the snapshot durable (file and directory), then
  rewrites the journal beside itself, fsyncs it and renames it into place.

File: b"SVCWAL1\\n", then records [u32 length][u32 crc32][u64 index][u64 term][command]. With a
cipher (raft.py always gives one: the at-rest key of the cluster's Raft secret, svc/keywrap.py) the
command is stored encrypted and authenticated; records of a journal written before are read as they are.
Meta (term, vote, commit index): JSON in `<journal>.meta`, replaced atomically.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from typing import Any

from svc.fsutil import fsync_dir

log = logging.getLogger(__name__)

MAGIC = b"SVCWAL1\n"
RECORD_MARKER = 0xE5  # an encrypted command's first byte (svc.keywrap.RECORD_MARKER)
_HEAD = struct.Struct("<II")  # payload length, crc32 of the payload
_ENTRY = struct.Struct("<QQ")  # index, term
Entry = tuple[bytes, int, int]  # (command, index, term), as pysyncobj keeps them


def fsync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: str, data: bytes) -> None:
    """Replace `path` with `data`: temp file, fsync, rename, fsync of the directory."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def _record(command: bytes, idx: int, term: int) -> bytes:
    payload = _ENTRY.pack(idx, term) + command
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[Entry], list[int], int]:
    """(entries, their offsets, where the valid prefix ends) of a journal file's bytes."""
    entries: list[Entry] = []
    offsets: list[int] = []
    pos = len(MAGIC)
    while pos + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, pos)
        start, end = pos + _HEAD.size, pos + _HEAD.size + length
        if length < _ENTRY.size or end > len(data) or zlib.crc32(data[start:end]) != crc:
            break
        idx, term = _ENTRY.unpack_from(data, start)
        entries.append((bytes(data[start + _ENTRY.size : end]), idx, term))
        offsets.append(pos)
        pos = end
    return entries, offsets, pos


class DurableJournal:
    def __init__(self, path: str, snapshot_path: str, cipher: Any = None) -> None:
        self.path = path
        self._cipher = cipher
        self.snapshot_path = snapshot_path
        self._meta_path = path + ".meta"
        self._meta: dict[str, Any] = self._load_meta()
        self._meta_dirty = False
        self._dirty = False
        self.syncs = 0  # fdatasync calls, for the benchmark
        self._open()

    # ----- files -----

    def _load_meta(self) -> dict[str, Any]:
        try:
            with open(self._meta_path, "rb") as f:
                return dict(json.loads(f.read()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"Raft journal meta {self._meta_path} is damaged: {exc}") from None

    def _store_meta(self) -> None:
        write_durably(self._meta_path, json.dumps(self._meta).encode())
        self._meta_dirty = False

    def _open(self) -> None:
        new = not os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if new:
            os.write(self._fd, MAGIC)
            os.fsync(self._fd)
            fsync_dir(os.path.dirname(self.path))
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0)
        if not data.startswith(MAGIC):
            os.close(self._fd)
            raise ValueError(f"{self.path} is not an svc Raft journal")
        self._entries, self._offsets, self._end = read_records(data)
        self._entries = [(self._plain(c), i, t) for c, i, t in self._entries]
        if self._end < size:
            log.warning(
                "Raft journal %s: dropped %d damaged or incomplete bytes at its tail after entry %s "
                "(a write cut short); kept the %d valid entries before them",
                self.path,
                size - self._end,
                self._entries[-1][1] if self._entries else "none",
                len(self._entries),
            )
            os.ftruncate(self._fd, self._end)
            os.fsync(self._fd)

    def _plain(self, stored: bytes) -> bytes:
        if self._cipher is not None:
            return bytes(self._cipher.open_record(stored))
        if stored[:1] == bytes([RECORD_MARKER]):
            raise ValueError(f"{self.path} is encrypted: it needs the cluster's Raft key")
        return stored

    def _rec(self, command: bytes, idx: int, term: int) -> bytes:
        return _record(self._cipher.record(command) if self._cipher is not None else command, idx, term)

    def sync(self) -> None:
        """Make every append and truncation so far durable (the group commit point)."""
        if self._dirty:
            os.fdatasync(self._fd)
            self._dirty = False
            self.syncs += 1

    def _snapshot_durable(self) -> None:
        # pysyncobj renames the snapshot into place (and writes received ones) without syncing:
        # before the journal gives up entries the snapshot covers, the snapshot must be on disk.
        fsync_file(self.snapshot_path)
        fsync_dir(os.path.dirname(self.snapshot_path))

    # ----- pysyncobj's journal interface -----

    def add(self, command: bytes, idx: int, term: int) -> None:
        rec = self._rec(bytes(command), idx, term)
        os.pwrite(self._fd, rec, self._end)
        self._entries.append((bytes(command), idx, term))
        self._offsets.append(self._end)
        self._end += len(rec)
        self._dirty = True

    def clear(self) -> None:
        self._snapshot_durable()
        os.ftruncate(self._fd, len(MAGIC))
        self._entries, self._offsets, self._end = [], [], len(MAGIC)
        self._dirty = True

    def deleteEntriesFrom(self, entry_from: int) -> None:
        if entry_from >= len(self._entries):
            return
        self._end = self._offsets[entry_from]
        del self._entries[entry_from:]
        del self._offsets[entry_from:]
        os.ftruncate(self._fd, self._end)
        self._dirty = True

    def deleteEntriesTo(self, entry_to: int) -> None:
        """Compaction after a snapshot: keep entries from position `entry_to` on."""
        self._snapshot_durable()
        keep = self._entries[entry_to:]
        write_durably(self.path, MAGIC + b"".join(self._rec(c, i, t) for c, i, t in keep))
        os.close(self._fd)  # (the old file's inode)
        self._open()

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.sync()
        if self._meta_dirty:
            self._store_meta()
        os.close(self._fd)

    def flush(self) -> None:
        self.sync()

    def setRaftCommitIndex(self, index: int) -> None:
        # Not needed for safety (a restarted member learns it again): stored once a second.
        self._meta["commit_index"] = index
        self._meta_dirty = True

    def getRaftCommitIndex(self) -> int:
        return int(self._meta.get("commit_index", 1))

    def setCurrentTerm(self, term: int, voted_for: Any) -> None:
        # Raft: term and vote are durable before any message reflecting them is sent.
        self._meta["term"] = term
        self._meta["voted_for"] = voted_for
        self._store_meta()

    def getCurrentTerm(self) -> int:
        return int(self._meta.get("term", 0))

    def getVotedForNodeId(self) -> Any:
        return self._meta.get("voted_for")

    def onOneSecondTimer(self) -> None:
        if self._meta_dirty:
            self._store_meta()
