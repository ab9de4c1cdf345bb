"""The project's error hierarchy, designed up front.

Every failure a caller can act on is one of these classes. They carry a one-line,
human-readable message (no secrets, no tracebacks). `svc.rpc` maps each class to
one gRPC status code and back, in one place, so a NotFound raised deep in the node
engine arrives in the CLI as a NotFound.
"""

from __future__ import annotations


class SvcError(Exception):
    """Base of every error svc raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(SvcError):
    """The request is malformed: a bad name, size, port, constraint or archive."""


class NotFound(SvcError):
    """The named object does not exist."""


class AlreadyExists(SvcError):
    """An object with that name or id exists already."""


class Conflict(SvcError):
    """The object's state does not allow the operation (e.g. removing a running container)."""


class OutOfDate(SvcError):
    """A compare-and-set lost: the object changed since it was read. Retry."""


class PermissionDenied(SvcError):
    """The caller is known but may not do this."""


class Unauthenticated(SvcError):
    """The caller could not be identified (no, bad or revoked credential)."""


class Unavailable(SvcError):
    """Try again later or elsewhere: no leader, no quorum, daemon not reachable."""


class DeadlineExceeded(SvcError):
    """The operation did not finish in time; it may still complete."""


class RuntimeFailure(SvcError):
    """A host tool (runc, crun, conmon, a CNI plugin, mount) failed; the message is its own last error."""
