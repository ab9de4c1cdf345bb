"""The CLI's connection to a manager's control API, over mutual TLS.

Where: `--host`/`SVC_HOST`, else the local manager (`<run dir>/manager.addr`).
As whom: `--tls-dir`/`SVC_TLS_DIR` (a client bundle from `svc cluster client-bundle`), else
the local manager's root-only admin credential.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from svc import defaults, tls
from svc.client import RpcClient
from svc.errors import SvcError, Unauthenticated, Unavailable


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
    locked = os.path.exists(os.path.join(_run_dir(), defaults.UNLOCK_SOCKET_NAME))
    if not host and not os.environ.get("SVC_HOST") and locked:
        raise Unavailable("this host's manager is locked (autolock is on): unlock it with `svc cluster unlock`")
    addr = host or os.environ.get("SVC_HOST") or _read(os.path.join(_run_dir(), defaults.MANAGER_ADDR_FILE))
    if not addr:
        raise Unavailable("no manager to talk to: this host runs none; give --host HOST:PORT or set SVC_HOST")
    if ":" not in addr:
        addr = f"{addr}:{defaults.MANAGER_GRPC_PORT}"
    given = tls_dir or os.environ.get("SVC_TLS_DIR")
    identity = tls.Identity.load(given) if given else _local_admin()
    if identity is None:
        raise Unauthenticated(
            "no credential for the manager: run as root on a manager host, or get one with "
            "`svc cluster client-bundle DIR` and pass --tls-dir DIR (or SVC_TLS_DIR)"
        )
    return addr, identity


def _local_admin() -> tls.Identity | None:
    """The local manager's admin credential, found where its pointer file says. The manager moves it
    (at rest, or in the run dir under autolock) by writing the new place, then the pointer, then
    removing the old place: a read that finds the old place gone reads the pointer once more."""
    pointer = os.path.join(_run_dir(), defaults.MANAGER_CREDS_FILE)
    seen = ""
    for _ in range(3):
        where = _read(pointer)
        if not where or where == seen:
            return None
        identity = tls.Identity.load(where)
        if identity is not None:
            return identity
        seen = where
    return None


def expired(identity: tls.Identity, where: str) -> Unauthenticated | None:
    """The error for an expired credential, or None. Asked only once a call failed: reading the
    certificate's dates loads cryptography's x509, which costs more than the call (svc/tls.py)."""
    if identity.expires_at >= time.time():
        return None
    return Unauthenticated(
        f"the credential in {where} expired on {time.ctime(identity.expires_at)}: "
        "get a new one with `svc cluster client-bundle DIR`"
    )


class _AdminClient(RpcClient):
    """A client with an admin credential; `stub_module.stub_name` is the service it calls.

    Unary calls go over svc.grpcwire (no grpcio to import: most of a short command's time otherwise);
    streams, and every call where SVC_CLI_TRANSPORT=grpcio, over a grpcio channel made when first
    needed. Both speak gRPC to the same servers; errors come out the same (svc.client)."""

    default_timeout = defaults.CLI_RPC_TIMEOUT_SECONDS
    stub_module = stub_name = service_name = ""

    def __init__(self, host: str | None = None, tls_dir: str | None = None, transport: str | None = None) -> None:
        """`transport`: "grpcio" for many calls at once from threads (the wire transport makes one
        at a time); default SVC_CLI_TRANSPORT, else the wire."""
        import importlib

        address, self.identity = locate(host, tls_dir)
        self.where = tls_dir or os.environ.get("SVC_TLS_DIR") or "the local admin credential"
        self.address = address
        self._channel = None
        self.stub = None
        if (transport or os.environ.get("SVC_CLI_TRANSPORT", "")) == "grpcio":
            self._grpcio()
            self.unary = self.stub
            return
        from svc import grpcwire

        pb2 = importlib.import_module(self.stub_module.removesuffix("_grpc"))
        connection = grpcwire.Connection(
            address,
            grpcwire.context_for(self.identity),
            defaults.MANAGER_TLS_NAME,
            defaults.GRPC_MAX_MESSAGE_BYTES,
            user_agent=f"svc/{defaults.VERSION}",
        )
        self.unary = grpcwire.UnaryStub(connection, pb2.DESCRIPTOR.services_by_name[self.service_name])

    def _grpcio(self) -> Any:
        import importlib

        if self.stub is None:
            stub = getattr(importlib.import_module(self.stub_module), self.stub_name)
            self._channel = tls.secure_channel(self.address, self.identity, aio=False)
            self.stub = stub(self._channel)
        return self.stub

    def stream(self, method: str, request: Any) -> Iterator[Any]:
        self._grpcio()
        return super().stream(method, request)

    def close(self) -> None:
        if self.unary is not self.stub:
            self.unary.close()
        if self._channel is not None:
            self._channel.close()

    def explain(self, err: SvcError) -> SvcError:
        if isinstance(err, Unauthenticated | Unavailable):
            return expired(self.identity, self.where) or err
        return err


class ControlClient(_AdminClient):
    """A manager's control API over mutual TLS."""

    stub_module, stub_name, service_name = "svc.v1.control_pb2_grpc", "ControlStub", "Control"


class CAClient(_AdminClient):
    """A manager's NodeCA service over mutual TLS, as an admin: the root CA and its rotation."""

    stub_module, stub_name, service_name = "svc.v1.ca_pb2_grpc", "NodeCAStub", "NodeCA"
