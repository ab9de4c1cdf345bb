"""svc errors <-> gRPC status codes as numbers: the one table, for code that must not import grpcio.

svc.rpc (the servers' and grpcio clients' side) maps grpc.StatusCode through this table; the CLI's
light transport (svc.grpcwire) reads the numbers off the wire. Numbers are gRPC's (status.proto).
"""

from __future__ import annotations

from svc import errors

OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS = range(7)
PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE = range(7, 12)
UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED = range(12, 17)

_NAMES = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
]


def name(code: int) -> str:
    """grpc.StatusCode's name for a number (UNKNOWN for one gRPC does not define)."""
    return _NAMES[code] if 0 <= code < len(_NAMES) else "UNKNOWN"


TO_CODE: dict[type[errors.SvcError], int] = {
    errors.InvalidArgument: INVALID_ARGUMENT,
    errors.NotFound: NOT_FOUND,
    errors.AlreadyExists: ALREADY_EXISTS,
    errors.Conflict: FAILED_PRECONDITION,
    errors.OutOfDate: ABORTED,
    errors.PermissionDenied: PERMISSION_DENIED,
    errors.Unauthenticated: UNAUTHENTICATED,
    errors.Unavailable: UNAVAILABLE,
    errors.DeadlineExceeded: DEADLINE_EXCEEDED,
    errors.RuntimeFailure: INTERNAL,
}
FROM_CODE = {code: cls for cls, code in TO_CODE.items()}


def error_class(code: int) -> type[errors.SvcError]:
    """The svc error a status stands for; a cancelled call counts as unavailable (try again)."""
    cls = FROM_CODE.get(code)
    if cls is None:
        return errors.Unavailable if code in (UNAVAILABLE, CANCELLED) else errors.SvcError
    return cls
