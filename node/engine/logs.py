"""Read container logs that conmon writes in the k8s-file format.

Each line is `<RFC 3339 time> <stdout|stderr> <F|P> <text>`; `P` marks a partial line
that continues in the next record.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from svc import defaults


@dataclass(frozen=True)
class LogEntry:
    time: float
    stream: str
    data: bytes


def _parse_time(text: bytes) -> float:
    s = text.decode("ascii", "replace")
    # Python's ISO parser takes at most microseconds; conmon writes nanoseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        s = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(s).timestamp()
    except ValueError:
        return 0.0


def parse_line(line: bytes) -> LogEntry | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    text = parts[3] if len(parts) == 4 else b""
    if parts[2] == b"F":
        text += b"\n"
    return LogEntry(time=_parse_time(parts[0]), stream=parts[1].decode("ascii", "replace"), data=text)


def read_logs(path: str, follow: bool, tail: int, running: Callable[[], bool]) -> Iterator[LogEntry]:
    """Yield entries from `path`; with `follow`, keep going until the container has stopped."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if not follow:
            return
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and running() and time.monotonic() < deadline:
            time.sleep(defaults.LOG_FOLLOW_POLL_SECONDS)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return
    with f:
        if tail > 0:
            last: collections.deque[bytes] = collections.deque(maxlen=tail)
            for line in f:
                if line.endswith(b"\n"):
                    last.append(line)
            pending = b""
            for line in last:
                entry = parse_line(line)
                if entry:
                    yield entry
        pending = b""
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    entry = parse_line(pending)
                    pending = b""
                    if entry:
                        yield entry
                continue
            if not follow:
                return
            if not running():
                # One last read: the monitor may have flushed between our read and the check.
                rest = f.read()
                for line in (pending + rest).splitlines(keepends=True):
                    entry = parse_line(line)
                    if entry:
                        yield entry
                return
            time.sleep(defaults.LOG_FOLLOW_POLL_SECONDS)
