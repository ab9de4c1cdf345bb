"""Learn that containers exited: watch conmon's exit directory with inotify.

conmon writes `<exit dir>/<container id>` when a container's init process exits, with
g_file_set_contents: a temporary `<id>.XXXXXX` first, renamed into place. Only the renamed
file is an exit: a temporary one is conmon's, and removing it makes conmon's rename fail
("Failed to write 137 to exit file"), so that conmon exits without writing the exit file at
all (issue #11). The watcher therefore reports only names that are container ids, on
IN_MOVED_TO and IN_CLOSE_WRITE (never IN_CREATE: the file is still empty then).

An inotify watch wakes us at once. A rescan every EXIT_RESCAN_SECONDS, due whatever the
events (a busy directory does not postpone it), covers anything inotify could miss (queue
overflow, a daemon restart between the exit and the watch), and with `candidates` the exits
conmon recorded elsewhere only (its persist directory's `exit`, written before the exit file).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import select
import struct
import threading
import time
from collections.abc import Callable, Iterable

from svc import defaults

log = logging.getLogger(__name__)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")  # the engine's ids (secrets.token_hex(32))

EVENT, RESCAN = "event", "rescan"  # how an exit file was seen, passed to on_exit


def is_exit_file(name: str) -> bool:
    """Whether `name` in the exit directory is a finished exit file (not conmon's temporary one)."""
    return _CONTAINER_ID.fullmatch(name) is not None


class ExitWatcher:
    def __init__(
        self,
        exit_dir: str,
        on_exit: Callable[[str, str], None],
        candidates: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """`on_exit(container id, EVENT or RESCAN)`; `candidates()`: ids each rescan also reports."""
        self.exit_dir = exit_dir
        self.on_exit = on_exit
        self.candidates = candidates
        self._stop = threading.Event()
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self._fd, exit_dir.encode(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {exit_dir}")
        self._thread = threading.Thread(target=self._run, name="exit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)

    def _notify(self, cid: str, how: str) -> None:
        try:
            self.on_exit(cid, how)
        except Exception:
            log.exception("handling the exit of %s", cid[:12])

    def _run(self) -> None:
        self.rescan()
        due = time.monotonic() + defaults.EXIT_RESCAN_SECONDS
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], max(0.0, due - time.monotonic()))
            if ready:
                self._read_events()
            if time.monotonic() >= due:
                self.rescan()
                due = time.monotonic() + defaults.EXIT_RESCAN_SECONDS

    def _read_events(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                log.warning("exit watcher: inotify queue overflow; rescanning %s", self.exit_dir)
                self.rescan()
                continue
            name = raw.rstrip(b"\0").decode(errors="replace")
            if is_exit_file(name):
                self._notify(name, EVENT)

    def rescan(self) -> None:
        try:
            names = [n for n in os.listdir(self.exit_dir) if is_exit_file(n)]
        except FileNotFoundError:
            names = []
        if self.candidates is not None:
            try:
                listed = set(names)
                names += [cid for cid in self.candidates() if cid not in listed]
            except Exception:
                log.exception("listing containers whose exit to check")
        for name in names:
            self._notify(name, RESCAN)
