"""What every endpoint module shares: the in-process control API call, and Docker's filters over it
(JSON answers, request bodies and errors are svc/dockerapi/http.py's, shared with the nodes' server).

The rule: an endpoint calls the manager's own ControlService (the object the gRPC server serves), so
every cluster rule, and forwarding from a follower to the leader, is the control API's. A call made
here carries a deadline like the CLI's, and an abort raises the svc error its status stands for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from svc import defaults
from svc.rpc import error_from_rpc

from ..controlapi import ControlService
from ..core import Manager


class _Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class _LocalCall:
    """What a ControlService method reads of its gRPC context, for an in-process call: the deadline,
    and abort, which raises the svc error the status stands for."""

    def time_remaining(self) -> float:
        return defaults.CLI_RPC_TIMEOUT_SECONDS

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise error_from_rpc(_Status(code, details))


class Calls:
    """The manager and its control API, as each endpoint module sees them."""

    def __init__(self, manager: Manager, control: ControlService) -> None:
        self.m = manager
        self.control = control

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self.control, method)(request, _LocalCall())

    def stream(self, method: str, request: Any) -> AsyncIterator[Any]:
        it: AsyncIterator[Any] = getattr(self.control, method)(request, _LocalCall())
        return it


async def joined(
    f: dict[str, list[str]],
    fetch: Callable[[list[str]], Awaitable[list[Any]]],
    rename: dict[str, str] | None = None,
) -> list[Any]:
    """Docker's filters over an svc list call that takes `k=v` items: the values of a key are OR'ed
    (one call each, answers joined by id), keys AND'ed, and `label` values, which Docker requires
    every one of, AND'ed too."""
    from .shapes import filter_sets

    f = dict(f)
    labels = f.pop("label", [])
    found: dict[str, Any] = {}
    for fs in filter_sets(f, rename) or [[]]:
        got: dict[str, Any] | None = None
        for label in labels or [""]:
            items = await fetch(fs + ([f"label={label}"] if label else []))
            these = {x.id: x for x in items}
            got = these if got is None else {k: v for k, v in got.items() if k in these}
        found.update(got or {})
    return list(found.values())
