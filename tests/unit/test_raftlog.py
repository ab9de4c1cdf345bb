"""A follower never truncates committed entries, and keeps entries a stale message repeats."""

from __future__ import annotations

from manager.store.raftlog import keep_committed

# This follower's log: indices 1..10, term 1 up to 6, term 2 after; committed up to 8.
LOG = [("c", i, 1 if i <= 6 else 2) for i in range(1, 11)]


def entries(start: int, count: int) -> list[tuple[str, int, int]]:
    return [e for e in LOG if start <= e[1] < start + count]


def ae(prev: int, prev_term: int, sent: list[tuple[str, int, int]]) -> dict[str, object]:
    return {"type": "append_entries", "term": 2, "commit_index": 8, "prevLogIdx": prev, "prevLogTerm": prev_term,
            "entries": sent}


def test_a_stale_append_below_the_commit_index_starts_after_it() -> None:
    stale = ae(3, 1, [LOG[3], LOG[4]])  # entries 4 and 5 again, as a pipelining leader resends
    out = keep_committed(stale, commit_index=8, last_index=10, entries=entries)
    assert out["prevLogIdx"] == 8 and out["prevLogTerm"] == 2 and out["entries"] == []


def test_entries_past_the_commit_index_that_match_are_kept_and_the_rest_appended() -> None:
    msg = ae(5, 1, [LOG[5], LOG[6], LOG[7], LOG[8], ("new", 10, 3), ("new", 11, 3)])
    out = keep_committed(msg, commit_index=8, last_index=10, entries=entries)
    assert out["prevLogIdx"] == 9  # 9 is held and identical; 10 conflicts (term 3 vs 2): cut from there
    assert out["entries"] == [("new", 10, 3), ("new", 11, 3)]


def test_messages_that_cannot_cut_committed_entries_pass_unchanged() -> None:
    at_commit = ae(8, 2, [("n", 9, 3)])
    assert keep_committed(at_commit, 8, 10, entries) is at_commit
    wrong_prev = ae(3, 7, [])
    assert keep_committed(wrong_prev, 8, 10, entries) is wrong_prev  # pysyncobj rejects it anyway


def test_a_leader_that_contradicts_a_committed_entry_is_not_papered_over(caplog) -> None:  # type: ignore[no-untyped-def]
    bad = ae(3, 1, [("x", 4, 9)])
    assert keep_committed(bad, 8, 10, entries) is bad
    assert "Raft safety is broken" in caplog.text
