"""A follower truncates only what conflicts, and moves its commit index only after a log check."""

from __future__ import annotations

from manager.store.raftlog import keep_known, no_commit_without_check

# This follower's log: indices 1..10, term 1 up to 6, term 2 after; committed up to 8.
LOG = [("c", i, 1 if i <= 6 else 2) for i in range(1, 11)]


def entries(start: int, count: int) -> list[tuple[str, int, int]]:
    return [e for e in LOG if start <= e[1] < start + count]


def ae(prev: int, prev_term: int, sent: list[tuple[str, int, int]], term: int = 2) -> dict[str, object]:
    return {
        "type": "append_entries",
        "term": term,
        "commit_index": 8,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
        "entries": sent,
    }


def test_a_stale_append_keeps_committed_entries_and_the_leaders_own() -> None:
    stale = ae(3, 1, [LOG[3], LOG[4]])  # entries 4 and 5 again, as a pipelining leader resends
    out = keep_known(stale, commit_index=8, last_index=10, entries=entries)
    # 4..8 are committed; 9 and 10 are of the leader's own term (2), which only grows: all kept
    assert out["prevLogIdx"] == 10 and out["prevLogTerm"] == 2 and out["entries"] == []


def test_truncation_starts_at_the_first_conflict_after_the_commit_index() -> None:
    msg = ae(5, 1, [LOG[5], LOG[6], LOG[7], LOG[8], ("new", 10, 3), ("new", 11, 3)], term=3)
    out = keep_known(msg, commit_index=8, last_index=10, entries=entries)
    assert out["prevLogIdx"] == 9  # 9 is held and identical; 10 conflicts (term 3 vs 2): cut from there
    assert out["entries"] == [("new", 10, 3), ("new", 11, 3)]


def test_an_older_terms_uncommitted_tail_is_left_to_pysyncobj() -> None:
    heartbeat = ae(8, 2, [], term=3)  # a new leader of term 3; our 9 and 10 are term 2, not committed
    assert keep_known(heartbeat, 8, 10, entries) is heartbeat


def test_messages_that_cannot_cut_anything_known_pass_unchanged() -> None:
    at_commit = ae(8, 2, [("n", 9, 3)], term=3)
    assert keep_known(at_commit, 8, 10, entries) is at_commit  # 9 conflicts at once
    wrong_prev = ae(3, 7, [])
    assert keep_known(wrong_prev, 8, 10, entries) is wrong_prev  # pysyncobj rejects it anyway
    at_end = ae(10, 2, [("n", 11, 2)])
    assert keep_known(at_end, 8, 10, entries) is at_end


def test_a_leader_that_contradicts_a_committed_entry_is_not_papered_over(caplog) -> None:  # type: ignore[no-untyped-def]
    bad = ae(3, 1, [("x", 4, 9)], term=9)
    assert keep_known(bad, 8, 10, entries) is bad
    assert "Raft safety is broken" in caplog.text


def test_a_snapshot_message_does_not_move_the_commit_index() -> None:
    chunk = {"type": "append_entries", "term": 3, "commit_index": 50, "serialized": b"..."}
    assert no_commit_without_check(chunk)["commit_index"] == 0
    checked = ae(8, 2, [])
    assert no_commit_without_check(checked) is checked
