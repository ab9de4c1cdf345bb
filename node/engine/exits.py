"""Learn that containers exited: watch conmon's exit directory with inotify.

conmon writes `<exit dir>/<container id>` when a container's init process exits. An
inotify watch wakes us at once; a slow rescan covers anything inotify could miss
(queue overflow, a daemon restart between the exit and the watch).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import threading
from collections.abc import Callable

from svc import defaults

log = logging.getLogger(__name__)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")


class ExitWatcher:
    def __init__(self, exit_dir: str, on_exit: Callable[[str], None]) -> None:
        self.exit_dir = exit_dir
        self.on_exit = on_exit
        self._stop = threading.Event()
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        if _libc.inotify_add_watch(self._fd, exit_dir.encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {exit_dir}")
        self._thread = threading.Thread(target=self._run, name="exit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)

    def _notify(self, name: str) -> None:
        if name.startswith("."):
            return
        try:
            self.on_exit(name)
        except Exception:
            log.exception("handling the exit of %s", name)

    def _run(self) -> None:
        self.rescan()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], defaults.EXIT_RESCAN_SECONDS)
            if not ready:
                self.rescan()
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, _, _, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                offset += _EVENT.size + length
                self._notify(raw.rstrip(b"\0").decode(errors="replace"))

    def rescan(self) -> None:
        try:
            names = os.listdir(self.exit_dir)
        except FileNotFoundError:
            return
        for name in names:
            self._notify(name)
