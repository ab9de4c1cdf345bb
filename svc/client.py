"""Connections from the CLI to the daemons, and the one place RPC failures become svc errors.

Rule: a failure is blamed on the address this side dialled only when it is a failure of this side's
own transport, which gRPC reports in its own client-side words ("failed to connect to all
addresses", "Socket closed"...). A status a server sent is passed on as the server worded it: our
servers answer in our own words (svc.rpc.handler), and a follower that could not reach the leader
says so naming the leader (manager/controlapi.py), never with gRPC's text. `transport_failure` is
the one place that knows gRPC's texts; managers use it for their forwarded calls too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from svc import defaults
from svc.errors import SvcError, Unauthenticated, Unavailable

T = TypeVar("T")

NOT_SENT = "not sent"  # no connection: the request never left this side, so nothing was done
BROKEN = "broken"  # the connection broke during the call: the server may or may not have carried it out
TIMED_OUT = "timed out"  # this side's deadline passed: likewise unknown

# gRPC core's client-side texts (grpcio 1.5x-1.8x), lower case. A server-sent detail never contains
# them: see the module's rule.
_NOT_SENT_TEXTS = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "dns resolution failed",
    "errors resolving",
    "empty address list",
)
_BROKEN_TEXTS = (
    "stream removed",
    "socket closed",
    "connection reset",
    "broken pipe",
    "goaway received",
    "keepalive watchdog timeout",
    "received rst_stream",
    "endpoint closing",
)
# What went wrong, in our words (never containing a text above), for messages naming the far side.
_REASONS = (
    ("handshake", "TLS handshake failed"),
    ("connection refused", "connection refused"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network is unreachable"),
    ("resolv", "its name does not resolve"),
    ("dns", "its name does not resolve"),
    ("timed out", "connection timed out"),
    ("timeout", "connection timed out"),
)


class TargetUnreachable(Unavailable):
    """This side's own connection to the address it dialled failed (not an error a server sent)."""


def transport_failure(code: Any, details: str | None) -> str | None:
    """NOT_SENT, BROKEN or TIMED_OUT if a call failed in this side's own transport; None if a server
    answered with this status."""
    import grpc

    text = (details or "").lower()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TIMED_OUT if text == "deadline exceeded" else None
    if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return None
    if code == grpc.StatusCode.UNAVAILABLE and any(t in text for t in _NOT_SENT_TEXTS):
        return NOT_SENT
    if any(t in text for t in _BROKEN_TEXTS):
        return BROKEN
    return None


def failure_reason(details: str | None) -> str:
    """A transport failure's cause in a few words of our own: 'connection refused', 'connection lost'..."""
    text = (details or "").lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    if any(t in text for t in _BROKEN_TEXTS):
        return "connection lost"
    return "no connection"


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
        self.unary: Any = self.stub  # where unary calls go (a subclass may give them a lighter transport)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_") or method in ("unary", "stub"):
            raise AttributeError(method)  # not yet set (or never): not an RPC
        rpc = getattr(self.unary, method)

        def call(request: Any, timeout: float | None = None) -> Any:
            try:
                return translate(lambda: rpc(request, timeout=timeout or self.default_timeout), self.address)
            except SvcError as exc:
                raise self.explain(exc) from None

        return call

    def stream(self, method: str, request: Any) -> Iterator[Any]:
        try:
            it = translate(lambda: getattr(self.stub, method)(request), self.address)
        except SvcError as exc:
            raise self.explain(exc) from None
        return self._explained(translate_iter(it, self.address))

    def _explained(self, it: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from it
        except SvcError as exc:
            raise self.explain(exc) from None

    def explain(self, err: SvcError) -> SvcError:
        """A subclass's chance to say more about a failed call (the CLI's: an expired credential)."""
        return err

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
    try:
        return fn()
    except Exception as exc:
        raise _failure(exc, address) from None


def translate_iter(it: Iterator[T], address: str) -> Iterator[T]:
    try:
        yield from it
    except Exception as exc:
        raise _failure(exc, address) from None


def _failure(exc: Exception, address: str) -> Exception:
    """The svc error for a failed call of either transport; any other exception as it is."""
    from svc.grpcwire import CallFailed

    if isinstance(exc, CallFailed):
        from svc.statuscodes import error_class

        return _explain(error_class(exc.code)(exc.details), exc.kind, exc.details, address)
    grpc = sys.modules.get("grpc")  # not imported: not one of its errors (and no import just to ask)
    if grpc is None or not isinstance(exc, grpc.RpcError):
        return exc
    from svc.rpc import error_from_rpc

    details = exc.details() if hasattr(exc, "details") else None
    kind = transport_failure(exc.code(), details) if hasattr(exc, "code") else None
    return _explain(error_from_rpc(exc), kind, details, address)


def _explain(err: SvcError, kind: str | None, details: str | None, address: str) -> SvcError:
    """Turn a failure of this side's own connection to `address` into what the user should check;
    leave a status a server sent as it is (module rule)."""
    where = address.removeprefix("unix:")
    if kind == NOT_SENT:
        detail = (details or "").lower()
        if any(word in detail for word in ("handshake", "ssl", "certificate", "verification")):
            return Unauthenticated(
                f"TLS with {address} failed: the manager and this credential do not trust each other "
                "(another cluster, an expired or revoked certificate, or not the manager's API port)"
            )
        hint = "is `svcd node` running?" if address.startswith("unix:") else "is the manager running and reachable?"
        return TargetUnreachable(f"cannot reach {where}: {hint}")
    if kind == BROKEN:
        what = "`svcd node`" if address.startswith("unix:") else "the manager"
        return TargetUnreachable(f"lost the connection to {where} during the call: did {what} stop?")
    return err
