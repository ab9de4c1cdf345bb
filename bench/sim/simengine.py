"""A SIMULATED engine for the control-plane benchmark only: it records containers, runs nothing.

It implements the agent's EngineAPI so that real agents (real registration, heartbeats,
assignments and status reports) can be run by the hundred in one process. Never a default:
nothing outside bench/ imports it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from svc.errors import NotFound
from svc.v1 import container_pb2 as pb

_ids = itertools.count(1)


@dataclass
class SimContainer:
    id: str
    name: str
    spec: pb.ContainerSpec
    state: str = "running"
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    health: Any = field(default_factory=lambda: SimpleNamespace(status=""))


class SimulatedEngine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._containers: dict[str, SimContainer] = {}
        self._subscribers: list[Callable[[Any], None]] = []

    def _emit(self) -> None:
        for cb in self._subscribers:
            cb(None)

    def containers(self, all: bool = False) -> list[Any]:
        with self._lock:
            return [c for c in self._containers.values() if all or c.state == "running"]

    def running(self) -> int:
        with self._lock:
            return sum(1 for c in self._containers.values() if c.state == "running")

    def run(self, spec: pb.ContainerSpec, name: str = "") -> Any:
        c = SimContainer(id=f"sim{next(_ids):012d}", name=name, spec=spec)
        with self._lock:
            self._containers[c.id] = c
        self._emit()
        return c

    def run_with_files(self, spec: pb.ContainerSpec, name: str, values: Mapping[str, bytes]) -> Any:
        return self.run(spec, name)  # nothing is mounted here: the values are dropped

    def stop(self, ref: str, grace: float | None = None, wait: bool = True) -> Any:
        with self._lock:
            c = self._containers.get(ref)
            if c is None:
                raise NotFound(f"no such container: {ref}")
            c.state, c.exit_code, c.finished_at = "exited", 0, time.time()
        self._emit()
        return c

    def remove(self, ref: str, force: bool = False) -> None:
        with self._lock:
            self._containers.pop(ref, None)
        self._emit()

    def subscribe(self, callback: Callable[[Any], None]) -> None:
        self._subscribers.append(callback)

    def ensure_image(
        self, ref: str, creds: tuple[str, str] | None = None, peers: Sequence[str] = (), peer_tls: Any = None
    ) -> None:
        pass  # every image is there: the benchmark measures the control plane

    def pin_images(self, refs: set[str]) -> None:
        pass  # nothing is collected here

    def announce_pulls(self, refs: set[str]) -> None:
        pass  # nothing is pulled here

    def image_refs(self) -> list[str]:
        return ["busybox:latest"]

    def set_networks(self, networks: list[Any]) -> None:
        pass  # no data path here

    def info(self) -> dict[str, Any]:
        return {"version": "simulated", "runtime": "simulated"}

    def logs(self, ref: str, follow: bool = False, tail: int = 0, stop: Any = None) -> Iterator[Any]:
        return iter(())
