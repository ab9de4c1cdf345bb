"""A directory that is an unbindable bind mount of itself while it holds anything.

Rule: the directory is mounted (once, never stacked) before a file is made in it, and unmounted
only when it is empty, both under one lock. Unbindable is private propagation (nothing mounted
elsewhere appears in it, nothing mounted in it appears elsewhere) plus: a recursive bind of a
parent (`mount --rbind /run ...`) skips it, so no copy of a mount inside can pin that path's
dentry and make our unlink fail with EBUSY.

Live restore: mounts outlive the daemon. A restarted engine finds the directory mount in
/proc/self/mountinfo and adopts it instead of binding a second one on top.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Iterator

from svc.errors import RuntimeFailure

from .mounts import MNT_DETACH, MS_BIND, MS_UNBINDABLE, is_mounted, mounted_beneath, sys_mount, sys_umount2

log = logging.getLogger(__name__)


class PrivateDir:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mounted = False  # known to be mounted by us or adopted; False means "look"

    @contextlib.contextmanager
    def holding(self) -> Iterator[str]:
        """The directory, mounted, for the caller to make a file in; it is not unmounted meanwhile."""
        with self._lock:
            self._mount()
            yield self.path

    def _mount(self) -> None:
        if self._mounted:
            return
        os.makedirs(self.path, mode=0o755, exist_ok=True)
        fresh = not is_mounted(self.path)
        if fresh:
            beneath = mounted_beneath(self.path)
            if beneath:
                # Binding over them would hide them: the very failure this directory exists to prevent.
                raise RuntimeFailure(
                    f"{self.path} is not a mount point but has mounts inside ({', '.join(beneath[:3])}): "
                    "unmount them (umount -l) and retry"
                )
            err = sys_mount(self.path, self.path, None, MS_BIND)
            if err:
                raise RuntimeFailure(f"bind-mounting {self.path} on itself: {os.strerror(err)}")
        # Also for an adopted mount: idempotent, and undoes a later `mount --make-rshared /`.
        err = sys_mount(None, self.path, None, MS_UNBINDABLE)
        if err:
            if fresh:
                sys_umount2(self.path, MNT_DETACH)
            raise RuntimeFailure(f"making {self.path} unbindable: {os.strerror(err)}")
        if fresh:
            log.debug("mounted %s (unbindable)", self.path)
        self._mounted = True

    def release_if_empty(self) -> None:
        """Unmount the directory if nothing is left in it; it stays (mounted) otherwise."""
        with self._lock:
            try:
                if os.listdir(self.path):
                    return
            except FileNotFoundError:
                self._mounted = False
                return
            if not self._mounted and not is_mounted(self.path):
                return
            # Empty, so nothing is mounted beneath: detaching cannot hide anything, and a process
            # whose working directory is here must not make it fail.
            err = sys_umount2(self.path, MNT_DETACH)
            self._mounted = False
            if err and err != errno.EINVAL:
                raise RuntimeFailure(f"unmounting {self.path}: {os.strerror(err)}")
            log.debug("unmounted %s", self.path)
