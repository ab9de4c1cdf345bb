"""The narrow engine interface the agent drives. The real Engine implements it; so does the
simulated engine of the control-plane benchmark (bench/, never a default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from svc.v1 import container_pb2 as pb


class ContainerView(Protocol):
    id: str
    name: str
    state: str  # created, running, exited
    exit_code: int
    oom_killed: bool
    error: str
    spec: pb.ContainerSpec
    started_at: float
    finished_at: float

    @property
    def health(self) -> Any: ...  # .status: "", starting, healthy, unhealthy


class EngineAPI(Protocol):
    def containers(self, all: bool = False) -> list[Any]: ...
    def run(self, spec: pb.ContainerSpec, name: str = "") -> Any: ...
    def stop(self, ref: str, grace: float | None = None, wait: bool = True) -> Any: ...
    def remove(self, ref: str, force: bool = False) -> None: ...
    def subscribe(self, callback: Callable[[Any], None]) -> None: ...
    def image_refs(self) -> list[str]: ...
    def logs(self, ref: str, follow: bool = False, tail: int = 0, stop: Any = None) -> Any: ...
    def info(self) -> dict[str, Any]: ...
