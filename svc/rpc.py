"""gRPC status codes <-> svc errors for grpcio, both sides of the wire (the table: svc.statuscodes)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from svc import errors, statuscodes

log = logging.getLogger(__name__)

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
_TO_CODE: dict[type[errors.SvcError], grpc.StatusCode] = {
    cls: _BY_NUMBER[number] for cls, number in statuscodes.TO_CODE.items()
}


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status a server should answer with for `exc`."""
    for cls in type(exc).__mro__:
        if cls in _TO_CODE:
            return _TO_CODE[cls], str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def error_from_rpc(exc: grpc.RpcError) -> errors.SvcError:
    """Turn a failed call back into the svc error it stands for."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    detail = (exc.details() if hasattr(exc, "details") else None) or str(code)
    number = code.value[0] if isinstance(code, grpc.StatusCode) else statuscodes.UNKNOWN
    return statuscodes.error_class(number)(detail)


F = TypeVar("F", bound=Callable[..., Any])


def _abort_args(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    code, message = status_of(exc)
    if code == grpc.StatusCode.INTERNAL and not isinstance(exc, errors.SvcError):
        log.exception("unexpected error in %s", method)
    return code, message


def handler(fn: F) -> F:
    """Decorate a grpc.aio servicer method: svc errors become statuses, other errors INTERNAL.

    Works for coroutine methods and async-generator (server streaming) methods.
    """
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for item in fn(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                code, message = _abort_args(exc, fn.__name__)
                await context.abort(code, message)

        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code, message = _abort_args(exc, fn.__name__)
            await context.abort(code, message)

    return unary  # type: ignore[return-value]
