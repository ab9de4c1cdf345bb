"""Raft rules pysyncobj 0.3.17 breaks on a follower, restored by rewriting AppendEntries it receives.

1. A follower truncates its log only from the first entry that conflicts with the leader's.
   pysyncobj deletes every entry after prevLogIdx whenever it holds more, without comparing them
   with what was sent. Its leader pipelines AppendEntries and moves nextIndex back on a stale
   reply, so a follower receives ones that start below entries it already holds — committed and
   applied ones too: it logged CRITICAL "truncating already-applied log entries" on a healed,
   deposed leader (issue #11), and acknowledged entries were cut.
   `keep_known` moves such a message to start after every entry the follower knows the leader
   holds: committed entries (Leader Completeness), entries identical to the ones sent, and
   entries of the leader's own term (a leader's log for its own term only grows). A sent entry
   that contradicts a committed one is a real safety violation: passed on unchanged and logged.
2. A follower advances its commit index only after its log passed the consistency check.
   pysyncobj also raises it on snapshot messages (no prevLogIdx), to the end of its own log:
   a deposed leader then applied its own uncommitted old-term entries and reported them done.
   `no_commit_without_check` takes the commit index out of such messages.

Pure: the caller passes the follower's log. raft.py applies both before pysyncobj's handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

Entry = Sequence[Any]  # pysyncobj's (command, index, term)


def no_commit_without_check(message: dict[str, Any]) -> dict[str, Any]:
    """An AppendEntries that does not check the log (a snapshot chunk) must not move the commit index."""
    if "prevLogIdx" in message or not message.get("commit_index"):
        return message
    return {**message, "commit_index": 0}


def keep_known(
    message: dict[str, Any], commit_index: int, last_index: int, entries: Callable[[int, int], list[Entry]]
) -> dict[str, Any]:
    """The AppendEntries `message`, moved to start after the entries this follower holds that the
    leader is known to hold too, so pysyncobj's truncation cuts only what conflicts.

    `entries(start, count)` returns this follower's log entries from `start` (may be fewer, or none
    if compacted away)."""
    prev = int(message["prevLogIdx"])
    if prev >= last_index:
        return message  # nothing after prevLogIdx: nothing to truncate
    ours = {int(e[1]): int(e[2]) for e in entries(prev, last_index - prev + 1)}
    if ours.get(prev) != message["prevLogTerm"]:
        return message  # pysyncobj rejects it (or our log is compacted there): nothing is truncated
    sent = list(message.get("entries") or [])
    sent_terms = {int(e[1]): int(e[2]) for e in sent}
    committed = min(commit_index, last_index)
    leader_term = int(message["term"])
    start = prev
    while start < last_index:
        i = start + 1
        if i in sent_terms and sent_terms[i] != ours.get(i):
            if i <= committed:
                log.critical(
                    "the leader's entry %d (term %d) conflicts with committed entry %d (term %s): "
                    "Raft safety is broken",
                    i,
                    sent_terms[i],
                    i,
                    ours.get(i),
                )
                return message
            break  # the first conflict: pysyncobj truncates from here, as Raft says
        if i <= committed or i in sent_terms or ours.get(i) == leader_term:
            start = i
            continue
        break  # an older term's entry the leader did not send: it may conflict, let it go
    if start == prev:
        return message
    return {
        **message,
        "prevLogIdx": start,
        "prevLogTerm": ours[start],
        "entries": [e for e in sent if int(e[1]) > start],
    }
