"""Small filesystem helpers shared by the daemons: atomic writes and JSON records."""

from __future__ import annotations

import json
import os
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


def write_json(path: str, doc: Any, mode: int = 0o644, fsync: bool = True) -> None:
    write_atomic(path, json.dumps(doc, sort_keys=True, indent=1).encode(), mode, fsync)


def read_json(path: str, default: Any = None) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
