"""`svc logs SERVICE`: every task's lines, merged in time order, with docker's --since/--until/-t/--raw.

Rule: lines are printed in the order of their time stamps, not of arrival (the nodes answer at their
own pace): without `-f` all of them are read, then sorted; with `-f` a line is held for FOLLOW_HOLD
seconds so one that arrives later but happened earlier still goes first. `--since`/`--until` take
docker's forms (a duration back from now, RFC 3339, a date, Unix seconds) and filter on the lines'
times; `-t` prints them with docker's fixed nine fraction digits. `--details` adds docker's
attributes column: the task's container labels (`-l`), `k=v` by key joined by commas (docker shows
the labels its `--log-opt labels=` names; svc has no log options, so it shows every one).
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from svc.errors import InvalidArgument

FOLLOW_HOLD = 0.3  # seconds a followed line waits for earlier ones from slower nodes

_UNIX = re.compile(r"^\d+(\.\d+)?$")
_STAMP = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$", re.IGNORECASE
)


def parse_time(text: str, now: float, what: str = "--since") -> float:
    """docker's --since/--until value as epoch seconds: `10m` / `1h30m` (before now), `1700000000[.5]`,
    `2026-12-01T14:09:49[.123]Z` or with an offset, `2026-12-01T14:09` or `2026-12-01` (UTC if no zone)."""
    from svc.units import parse_duration

    text = text.strip()
    if _UNIX.match(text):
        return float(text)
    m = _STAMP.match(text)
    if m:
        y, mo, d, h, mi, s, frac, zone = m.groups()
        secs = calendar.timegm((int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), 0, 0, 0))
        if zone and zone.upper() != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        return secs + (float(frac) if frac else 0.0)
    try:
        return now - parse_duration(text, what)
    except InvalidArgument:
        raise InvalidArgument(
            f"invalid {what} {text!r}: use a duration (10m, 1h30m), RFC 3339 (2026-12-01T14:09:49Z) or Unix seconds"
        ) from None


def stamp(ts: float) -> str:
    """docker's `-t`: RFC 3339 with nine fraction digits, UTC."""
    micros = round(ts * 1_000_000)
    seconds, frac = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac * 1000:09d}Z"


def in_window(ts: float, since: float | None, until: float | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts <= until)


def ordered(messages: Iterable[Any]) -> list[Any]:
    """Every message, by time (a stable sort: one task's lines with equal times keep their order)."""
    return sorted(messages, key=lambda m: m.time)


def held(stream: Iterable[Any], hold: float = FOLLOW_HOLD) -> Iterator[Any]:
    """A followed stream in time order: each message waits `hold` seconds for earlier ones."""
    import queue
    import threading

    q: queue.Queue[Any] = queue.Queue()
    end: Any = object()

    def pump() -> None:
        try:
            for m in stream:
                q.put(m)
        except BaseException as exc:  # handed to the reader, raised there
            q.put(exc)
        q.put(end)

    threading.Thread(target=pump, daemon=True).start()
    heap: list[tuple[float, int, float, Any]] = []
    n, done = 0, False
    while not done or heap:
        try:
            item = q.get(timeout=0.05) if not done else end
        except queue.Empty:
            item = None
        if item is end:
            done = True
        elif isinstance(item, BaseException):
            raise item
        elif item is not None:
            heapq.heappush(heap, (item.time, n, time.monotonic(), item))
            n += 1
        now = time.monotonic()
        while heap and (done or heap[0][2] <= now - hold):
            yield heapq.heappop(heap)[3]


def details(labels: dict[str, str]) -> bytes:
    """docker's `--details` column: `k=v,k=v ` (by key), a lone space when there is none."""
    return (",".join(f"{k}={v}" for k, v in sorted(labels.items())) + " ").encode()


class _Labels:
    """Each task's container labels, asked of the managers once, and again for a task not seen yet."""

    def __init__(self, c: Any, service: str) -> None:
        self.c, self.service, self.known = c, service, dict[str, dict[str, str]]()

    def __call__(self, task_id: str) -> dict[str, str]:
        if task_id not in self.known:
            from svc.v1 import control_pb2 as ctl

            for t in self.c.ListTasks(ctl.ListTasksRequest(service=self.service)).tasks:
                self.known[t.id] = dict(t.spec.labels)
            self.known.setdefault(task_id, {})
        return self.known[task_id]


def cmd_logs(args: argparse.Namespace) -> int:
    from svc.cli.service import client
    from svc.v1 import control_pb2 as ctl

    now = time.time()
    since = parse_time(args.since, now, "--since") if args.since else None
    until = parse_time(args.until, now, "--until") if args.until else None
    c = client(args)
    req = ctl.ServiceLogsRequest(service=args.service, follow=args.follow, tail=args.tail)
    stream = c.stream("ServiceLogs", req)
    messages = held(stream) if args.follow else iter(ordered(stream))
    labels = _Labels(c, args.service) if getattr(args, "details", False) else None
    try:
        for msg in messages:
            if not in_window(msg.time, since, until):
                continue
            out = sys.stdout.buffer if msg.stream == "stdout" else sys.stderr.buffer
            prefix = b""
            if args.timestamps:
                prefix += stamp(msg.time).encode() + b" "
            if not args.no_task_ids and not args.raw:
                prefix += f"{msg.task_name}@{msg.node_hostname}    | ".encode()
            if labels is not None:
                prefix += details(labels(msg.task_id))
            out.write(prefix + msg.data)
            out.flush()
    finally:
        # Ends the followed stream that `held`'s thread still reads (Ctrl-C): a call left open in
        # another thread can hold up the interpreter's exit.
        c.close()
    return 0
