"""gRPC unary calls without grpcio, for the CLI (see unary.py for why and its rules).

`UnaryStub(connection, service)` calls `service`'s methods as a generated stub does
(`stub.Method(request, timeout=...)`), raising `CallFailed` where grpcio raises `RpcError`;
svc.client turns both into svc errors in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from svc.grpcwire.unary import BROKEN, NOT_SENT, TIMED_OUT, CallFailed, Connection, context_for

__all__ = ["BROKEN", "NOT_SENT", "TIMED_OUT", "CallFailed", "Connection", "UnaryStub", "context_for"]


class UnaryStub:
    """The unary methods of one protobuf service descriptor, over one Connection."""

    def __init__(self, connection: Connection, service: Any) -> None:
        self._connection = connection
        self._service = service

    def __getattr__(self, name: str) -> Callable[..., Any]:
        from google.protobuf.message_factory import GetMessageClass

        method = self._service.methods_by_name.get(name)
        if method is None:
            raise AttributeError(name)
        path = f"/{self._service.full_name}/{name}"
        answer = GetMessageClass(method.output_type)

        def call(request: Any, timeout: float | None = None) -> Any:
            return answer.FromString(self._connection.call(path, request.SerializeToString(), timeout))

        return call

    def close(self) -> None:
        self._connection.close()
