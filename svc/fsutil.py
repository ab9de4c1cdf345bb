"""Small filesystem helpers shared by the daemons: atomic writes and JSON records."""

from __future__ import annotations

import json
import os
import threading
from typing import Any


def write_atomic(path: str, data: bytes, mode: int = 0o644, fsync: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix."""
    directory = os.path.dirname(path) or "."
    import tempfile  # here: every CLI command imports this module, and only writers need tempfile

    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync_dir(path: str) -> None:
    """Make a directory's entries durable (a rename or link in it)."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BackgroundFsync:
    """`fsync(fd)` on a thread of its own, started at once: the caller goes on with bytes it has verified and
    waits for durability only where it must, before the rename that puts the file in place. The caller keeps
    `fd` open until `wait()` returns, whatever happens meanwhile."""

    def __init__(self, fd: int) -> None:
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(fd,), name="fsync", daemon=True)
        self._thread.start()

    def _run(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:  # raised by wait(), in the caller's thread
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def wait_quietly(self) -> None:
        """Wait without raising: where the work is being abandoned anyway."""
        self._thread.join()


def write_json(path: str, doc: Any, mode: int = 0o644, fsync: bool = True) -> None:
    write_atomic(path, json.dumps(doc, sort_keys=True, indent=1).encode(), mode, fsync)


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
