"""One Raft rule pysyncobj 0.3.17 breaks, restored: a follower truncates its log only from the
first entry that conflicts with the leader's, and never truncates a committed entry.

pysyncobj's follower, on any AppendEntries whose prevLogIdx is below its last index, deletes
every entry after prevLogIdx (`if len(prevEntries) > 1: ... __deleteEntriesFrom(prevLogIdx + 1)`)
without comparing them with the entries sent. Its leader pipelines AppendEntries and moves
nextIndex back on a rejection, so a follower can receive one that starts below entries it has
already committed and applied: it then logs CRITICAL "truncating already-applied log entries"
(seen on a healed, deposed leader, issue #11), its log loses committed entries, and its applied
state no longer matches its log.

`keep_committed` rewrites such a message before pysyncobj sees it: the entries the follower has
committed are, by Raft's Leader Completeness, in every later leader's log at the same index and
term, so the message may start after them. Entries the leader sent for indices up to there
must match the follower's; if one does not, that is a real safety violation: the message is
passed on unchanged and the conflict logged. Pure: the caller passes the follower's log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

Entry = Sequence[Any]  # pysyncobj's (command, index, term)


def keep_committed(
    message: dict[str, Any], commit_index: int, last_index: int, entries: Callable[[int, int], list[Entry]]
) -> dict[str, Any]:
    """The AppendEntries `message`, moved to start after this follower's committed prefix (and after
    any further entries it already holds that the message repeats), so nothing committed is cut.

    `entries(start, count)` returns this follower's log entries from `start` (may be fewer, or none
    if compacted away)."""
    prev = int(message["prevLogIdx"])
    committed = min(commit_index, last_index)
    if prev >= committed:
        return message  # nothing committed after prevLogIdx: pysyncobj's truncation cannot hurt
    sent = list(message.get("entries") or [])
    span = min(last_index, committed + len(sent)) - prev + 1  # all a rewrite can need: rarely much
    ours = {int(e[1]): int(e[2]) for e in entries(prev, span)}
    if ours.get(prev) != message["prevLogTerm"]:
        return message  # pysyncobj rejects it (or our log is compacted there): nothing is truncated
    for e in sent:
        if int(e[1]) <= committed and ours.get(int(e[1])) != int(e[2]):
            log.critical(
                "the leader's entry %d (term %d) conflicts with committed entry %d (term %s): "
                "Raft safety is broken",
                e[1],
                e[2],
                e[1],
                ours.get(int(e[1])),
            )
            return message
    start = committed
    for e in sent:  # entries past the commit index that we already hold, identical: keep them too
        if int(e[1]) == start + 1 and ours.get(start + 1) == int(e[2]):
            start += 1
    return {
        **message,
        "prevLogIdx": start,
        "prevLogTerm": ours[start],
        "entries": [e for e in sent if int(e[1]) > start],
    }
