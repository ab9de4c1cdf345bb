"""A locked manager (autolock): it waits for its unlock key before anything else starts.

Its Raft secret and TLS key are sealed (bootstrap.ManagerState.save), so it can neither join Raft
nor serve TLS: it serves one call, `Unlock`, on a unix socket under the run dir (0600 in a 0700
directory: root only, as Swarm's locked daemon answers on its local socket), and nothing on its
network ports. A wrong key is refused and it stays locked; the right one lets start-up go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from svc import keywrap, sdnotify, tls
from svc.errors import InvalidArgument
from svc.rpc import handler

from .bootstrap import ManagerState

log = logging.getLogger("svcd.manager")

UNLOCK_SOCKET_NAME = keywrap.UNLOCK_SOCKET_NAME


def unlock_socket(run_dir: str) -> str:
    return os.path.join(run_dir, UNLOCK_SOCKET_NAME)


class _UnlockService:
    def __init__(self, state: ManagerState, home: str, done: asyncio.Event) -> None:
        self.state, self.home, self.done = state, home, done

    @handler
    async def Unlock(self, request: Any, context: Any) -> Any:
        from svc.v1 import control_pb2 as ctl

        if self.done.is_set():
            return ctl.Ack()
        keywrap.parse_unlock_key(request.unlock_key)  # a malformed key: InvalidArgument, in one line
        try:
            await asyncio.to_thread(self.state.unlock, self.home, request.unlock_key)
        except keywrap.WrongKey:
            log.warning("refused an unlock with a wrong key; this manager stays locked")
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidArgument(f"this manager's sealed keys are unreadable: {exc}") from None
        log.info("unlocked")
        sdnotify.notify("STATUS=unlocked: starting")
        self.done.set()
        return ctl.Ack()


async def wait_unlocked(state: ManagerState, home: str, run_dir: str) -> None:
    """Serve `Unlock` on the run dir's unix socket until the right key comes; then stop serving it."""
    import grpc

    from svc.v1 import control_pb2_grpc as ctl_grpc

    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    os.chmod(run_dir, 0o700)
    # A local admin credential of the last run (autolock keeps it in the run dir) is of no use now.
    tls.remove(os.path.join(run_dir, "admin"))
    path = unlock_socket(run_dir)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    done = asyncio.Event()
    server = grpc.aio.server()
    ctl_grpc.add_UnlockServicer_to_server(_UnlockService(state, home, done), server)  # type: ignore[no-untyped-call]
    old_umask = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{path}")
        await server.start()
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    log.warning("this manager is locked (autolock is on): waiting for `svc cluster unlock` on this host")
    # Locked is not a failed start: systemd (Type=notify) must not kill and restart it every TimeoutStartSec.
    sdnotify.notify("READY=1\nSTATUS=locked: waiting for `svc cluster unlock`")
    try:
        await done.wait()
    finally:
        await server.stop(0.5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
