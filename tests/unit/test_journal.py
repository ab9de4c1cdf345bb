"""The durable Raft journal: what is synced survives, a damaged tail is cut to its valid prefix."""

from __future__ import annotations

import logging
import os

import pytest

from manager.store.journal import MAGIC, DurableJournal


def journal(tmp_path) -> DurableJournal:  # type: ignore[no-untyped-def]
    return DurableJournal(str(tmp_path / "raft.wal"), str(tmp_path / "raft.snapshot"))


def test_entries_term_and_vote_survive_a_reopen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    j = journal(tmp_path)
    for i in range(1, 6):
        j.add(b"cmd%d" % i, i, 1 + i // 3)
    j.setCurrentTerm(7, "node-b")
    j.setRaftCommitIndex(4)
    j.sync()
    j._destroy()
    again = journal(tmp_path)
    assert [e[1:] for e in again[:]] == [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2)]
    assert again[2][0] == b"cmd3" and len(again) == 5
    assert (again.getCurrentTerm(), again.getVotedForNodeId(), again.getRaftCommitIndex()) == (7, "node-b", 4)


def test_one_sync_covers_every_append_since_the_last(tmp_path) -> None:  # type: ignore[no-untyped-def]
    j = journal(tmp_path)
    for i in range(1, 51):
        j.add(b"x", i, 1)
    j.sync()
    j.sync()  # nothing new: no second fdatasync
    assert j.syncs == 1


def test_a_tail_cut_mid_record_is_dropped_and_said(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    j = journal(tmp_path)
    for i in range(1, 4):
        j.add(b"entry-%d" % i, i, 1)
    j._destroy()
    path = tmp_path / "raft.wal"
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 3)  # the last record's tail never reached the disk
    with caplog.at_level(logging.WARNING):
        again = journal(tmp_path)
    assert [e[1] for e in again[:]] == [1, 2]
    assert "dropped" in caplog.text and "kept the 2 valid entries" in caplog.text
    again.add(b"entry-3b", 3, 2)  # appends go after the valid prefix
    again._destroy()
    assert [e[0] for e in journal(tmp_path)[:]] == [b"entry-1", b"entry-2", b"entry-3b"]


def test_a_flipped_byte_ends_the_valid_prefix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    j = journal(tmp_path)
    for i in range(1, 4):
        j.add(b"entry-%d" % i, i, 1)
    j._destroy()
    path = tmp_path / "raft.wal"
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [e[1] for e in journal(tmp_path)[:]] == [1, 2]


def test_truncation_and_compaction_are_what_a_reopen_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    j = journal(tmp_path)
    for i in range(1, 11):
        j.add(b"e%d" % i, i, 1)
    j.deleteEntriesFrom(7)  # positions 7.. (indices 8, 9, 10) go
    j.add(b"e8'", 8, 2)
    (tmp_path / "raft.snapshot").write_bytes(b"snapshot")
    j.deleteEntriesTo(3)  # compaction: keep positions 3.. (indices 4..8)
    j.sync()
    j._destroy()
    again = journal(tmp_path)
    assert [(e[1], e[2]) for e in again[:]] == [(4, 1), (5, 1), (6, 1), (7, 1), (8, 2)]
    assert again[-1][0] == b"e8'"


def test_a_file_that_is_not_a_journal_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "raft.wal").write_bytes(b"something else entirely")
    with pytest.raises(ValueError, match="not an svc Raft journal"):
        journal(tmp_path)
    assert MAGIC.startswith(b"SVCWAL")


def test_the_old_pysyncobj_journal_is_moved_into_the_durable_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pysyncobj.journal import FileJournal

    from manager.store.raft import _migrate_old_journal

    old = FileJournal(str(tmp_path / "raft.journal"))
    for i in range(1, 4):
        old.add(b"old-%d" % i, i, 2)
    old.setCurrentTerm(5, "n1")
    old._destroy()
    _migrate_old_journal(str(tmp_path))
    assert not (tmp_path / "raft.journal").exists() and (tmp_path / "raft.journal.migrated").exists()
    j = journal(tmp_path)
    assert [e[0] for e in j[:]] == [b"old-1", b"old-2", b"old-3"] and j.getCurrentTerm() == 5
