"""Connections from the CLI to the daemons, and the one place RPC failures become svc errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from svc import defaults
from svc.errors import SvcError, Unauthenticated, Unavailable

T = TypeVar("T")


def engine_socket() -> str:
    return os.environ.get("SVC_ENGINE_SOCKET") or os.path.join(
        os.environ.get("SVC_RUN_DIR", defaults.RUN_DIR), defaults.ENGINE_SOCKET_NAME
    )


class RpcClient:
    """A stub whose calls raise svc errors: `client.Method(request)`, `client.stream("Method", request)`."""

    default_timeout: float | None = None

    def __init__(self, address: str, channel: Any, stub_class: Any) -> None:
        self.address = address
        self._channel = channel
        self.stub = stub_class(channel)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        rpc = getattr(self.stub, method)

        def call(request: Any, timeout: float | None = None) -> Any:
            return translate(lambda: rpc(request, timeout=timeout or self.default_timeout), self.address)

        return call

    def stream(self, method: str, request: Any) -> Iterator[Any]:
        it = translate(lambda: getattr(self.stub, method)(request), self.address)
        return translate_iter(it, self.address)

    def close(self) -> None:
        self._channel.close()


class EngineClient(RpcClient):
    """The node engine's local API (a root-only unix socket)."""

    def __init__(self, socket_path: str | None = None) -> None:
        import grpc

        from svc.v1 import engine_pb2_grpc

        address = f"unix:{socket_path or engine_socket()}"
        super().__init__(address, grpc.insecure_channel(address), engine_pb2_grpc.EngineStub)


def translate(fn: Callable[[], T], address: str) -> T:
    import grpc

    from svc.rpc import error_from_rpc

    try:
        return fn()
    except grpc.RpcError as exc:
        raise _explain(error_from_rpc(exc), exc, address) from None


def translate_iter(it: Iterator[T], address: str) -> Iterator[T]:
    import grpc

    from svc.rpc import error_from_rpc

    try:
        yield from it
    except grpc.RpcError as exc:
        raise _explain(error_from_rpc(exc), exc, address) from None


def _explain(err: SvcError, exc: Any, address: str) -> SvcError:
    """Turn gRPC's connection failures into what the user should check."""
    import grpc

    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return err
    detail = err.message.lower()
    if "handshake" in detail or "ssl" in detail or "certificate" in detail:
        return Unauthenticated(
            f"TLS with {address} failed: the manager and this credential do not trust each other "
            "(another cluster, an expired or revoked certificate, or not the manager's API port)"
        )
    if "connect" in detail or "no such file" in detail:
        hint = "is `svcd node` running?" if address.startswith("unix:") else "is the manager running and reachable?"
        return Unavailable(f"cannot reach {address.removeprefix('unix:')}: {hint}")
    return err
