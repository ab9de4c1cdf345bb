"""The CLI's connection to a manager's control API, over mutual TLS.

Where: `--host`/`SVC_HOST`, else the local manager (`<run dir>/manager.addr`).
As whom: `--tls-dir`/`SVC_TLS_DIR` (a client bundle from `svc cluster client-bundle`), else
the local manager's root-only admin credential.
"""

from __future__ import annotations

import os
import time

from svc import defaults, tls
from svc.client import RpcClient
from svc.errors import Unauthenticated, Unavailable
from svc.keywrap import UNLOCK_SOCKET_NAME


def _run_dir() -> str:
    return os.environ.get("SVC_RUN_DIR", defaults.RUN_DIR)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""
    except PermissionError:
        raise Unauthenticated(f"cannot read {path}: the local admin credential is for root") from None


def locate(host: str | None = None, tls_dir: str | None = None) -> tuple[str, tls.Identity]:
    if not host and not os.environ.get("SVC_HOST") and os.path.exists(os.path.join(_run_dir(), UNLOCK_SOCKET_NAME)):
        raise Unavailable("this host's manager is locked (autolock is on): unlock it with `svc cluster unlock`")
    addr = host or os.environ.get("SVC_HOST") or _read(os.path.join(_run_dir(), defaults.MANAGER_ADDR_FILE))
    if not addr:
        raise Unavailable("no manager to talk to: this host runs none; give --host HOST:PORT or set SVC_HOST")
    if ":" not in addr:
        addr = f"{addr}:{defaults.MANAGER_GRPC_PORT}"
    creds = tls_dir or os.environ.get("SVC_TLS_DIR") or _read(os.path.join(_run_dir(), defaults.MANAGER_CREDS_FILE))
    identity = tls.Identity.load(creds) if creds else None
    if identity is not None and identity.expires_at < time.time():
        raise Unauthenticated(
            f"the credential in {creds} expired on {time.ctime(identity.expires_at)}: "
            "get a new one with `svc cluster client-bundle DIR`"
        )
    if identity is None:
        raise Unauthenticated(
            "no credential for the manager: run as root on a manager host, or get one with "
            "`svc cluster client-bundle DIR` and pass --tls-dir DIR (or SVC_TLS_DIR)"
        )
    return addr, identity


class ControlClient(RpcClient):
    """A manager's control API over mutual TLS."""

    default_timeout = defaults.CLI_RPC_TIMEOUT_SECONDS

    def __init__(self, host: str | None = None, tls_dir: str | None = None) -> None:
        from svc.v1 import control_pb2_grpc

        address, identity = locate(host, tls_dir)
        super().__init__(address, tls.secure_channel(address, identity, aio=False), control_pb2_grpc.ControlStub)


class CAClient(RpcClient):
    """A manager's NodeCA service over mutual TLS, as an admin: the root CA and its rotation."""

    default_timeout = defaults.CLI_RPC_TIMEOUT_SECONDS

    def __init__(self, host: str | None = None, tls_dir: str | None = None) -> None:
        from svc.v1 import ca_pb2_grpc

        address, identity = locate(host, tls_dir)
        super().__init__(address, tls.secure_channel(address, identity, aio=False), ca_pb2_grpc.NodeCAStub)
