"""The engine facade: images and containers on one host, knowing nothing of the cluster.

Everything the local API and the cluster agent do to containers goes through `Engine`.
Each lifecycle step that touches the host (overlay mount, network namespace, runtime
create) is undone in reverse order if a later step fails, so a failed start leaves no
mount, namespace, veth or cgroup behind.

Threads: calls are blocking and thread-safe; one lock per container serialises its
lifecycle; waits use one condition; the exit watcher and the health monitor call back
in on their own threads. Subscribers get ContainerEvents outside every lock.
"""

from __future__ import annotations

import collections
import copy
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from svc import containerspec, defaults
from svc.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, RuntimeFailure
from svc.latency import LatencyRecorder
from svc.registry import settings as registry_settings
from svc.registry.settings import RegistrySettings
from svc.units import parse_signal
from svc.v1 import container_pb2 as pb
from svc.v1 import dispatcher_pb2 as dpb

from . import cgroups, ocispec
from . import spec as specs
from .container import EXITED, RUNNING, Container
from .deadlines import Deadlines
from .exits import ExitWatcher
from .health import HealthMonitor, Probe, next_health
from .heldrefs import held_refs
from .host import HostResources
from .imagecollector import GcPolicy, ImageCollector, Pruned
from .images import ImageRecord, ImageStore
from .logs import LogEntry, read_logs
from .monitor import Conmon
from .mounts import is_mounted
from .netns import Namespaces
from .network import BridgeNetwork, netns_name
from .overlay import Overlays
from .runtime import ContainerFiles, OciRuntime, RuncFamily
from .taskfiles import TaskFiles
from .trash import Trash
from .volumeapi import Volumes
from .volumes import VolumeStore, check_binds

log = logging.getLogger(__name__)

KILL_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class EngineConfig:
    data_dir: str
    run_dir: str
    runtime: str = defaults.DEFAULT_RUNTIME
    runtime_paths: dict[str, str] = field(default_factory=dict)  # name -> binary; default: found on PATH
    conmon: str = "conmon"
    cgroup_parent: str = defaults.CGROUP_PARENT
    bridge: str = defaults.BRIDGE_NAME
    subnet: str = defaults.BRIDGE_SUBNET
    cni_plugin_dirs: tuple[str, ...] = defaults.CNI_PLUGIN_DIRS
    vtep_addr: str = ""  # the overlay networks' VXLAN source address (the node's advertised one)
    routing_mesh: bool = True  # the ingress sandbox and published ports on every node (ingress.py)
    image_gc: GcPolicy = field(default_factory=GcPolicy)
    insecure_registries: tuple[str, ...] = ()  # besides registries.json's (svcd --insecure-registry)
    registry_mirrors: tuple[str, ...] = ()
    protected_dirs: tuple[str, ...] = ()  # no bind mount from inside these (svcd's whole data and run dirs)


@dataclass(frozen=True)
class ContainerEvent:
    kind: str  # create, start, exit, health, remove
    container: Container


class Engine:
    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self._containers_dir = os.path.join(cfg.data_dir, "containers")
        os.makedirs(self._containers_dir, mode=0o700, exist_ok=True)
        self.images = ImageStore(os.path.join(cfg.data_dir, "images"))
        exit_dir = os.path.join(cfg.run_dir, "exits")
        self.conmon = Conmon(cfg.conmon, exit_dir, os.path.join(cfg.run_dir, "sock"))
        # Under the run dir, not /run/netns: see netns.py. Per run dir, so engines (tests) do not share one.
        self.namespaces = Namespaces(os.path.join(cfg.run_dir, "netns"))
        self.network = BridgeNetwork(
            cfg.bridge, cfg.subnet, cfg.cni_plugin_dirs, os.path.join(cfg.run_dir, "cni"), self.namespaces
        )
        self.network.routing_mesh = cfg.routing_mesh
        self.overlays = Overlays(self.namespaces, cfg.vtep_addr, cfg.routing_mesh)
        self.runtimes, self.unusable = self._probe_runtimes()
        taskfiles = TaskFiles(os.path.join(cfg.run_dir, "taskfiles"))
        volume_store = VolumeStore(os.path.join(cfg.data_dir, "volumes"))
        self.host = HostResources(
            self.images, self.network, self.overlays, taskfiles, volume_store, self._forget_volume
        )
        self._values: dict[str, dict[str, bytes]] = {}  # container id -> its secrets' and configs' values (memory only)
        if cfg.runtime not in defaults.KNOWN_RUNTIMES:
            raise InvalidArgument(f"unknown runtime {cfg.runtime!r}: use one of {', '.join(defaults.KNOWN_RUNTIMES)}")
        if cfg.runtime not in self.runtimes:
            raise RuntimeFailure(f"runtime {cfg.runtime} cannot be used: {self.unusable.get(cfg.runtime, 'not found')}")
        problem = self.conmon.available()
        if problem:
            raise RuntimeFailure(problem)
        missing = self.network.missing_plugins()
        if missing:
            raise RuntimeFailure(
                f"CNI plugins not found in {':'.join(cfg.cni_plugin_dirs)}: {', '.join(missing)} "
                "(install containernetworking-plugins)"
            )
        self._lock = threading.RLock()  # guards the maps below
        self._changed = threading.Condition(self._lock)
        self.volumes = Volumes(volume_store, self._volume_users, self._lock)  # svc volume ...
        self._containers: dict[str, Container] = {}
        self._ctr_locks: dict[str, threading.Lock] = {}
        self._pull_locks: dict[str, threading.Lock] = {}  # image reference -> its one pull at a time
        self._subscribers: list[Callable[[ContainerEvent], None]] = []
        self.latency = LatencyRecorder()  # per operation; node metrics export it
        self.health = HealthMonitor(self._run_probe, self._record_probe)
        # How each recorded exit was noticed: "event" / "rescan" (the exit watcher), "wait" (a stop or
        # kill polling for it), "restore", "fallback" (KILL_WAIT_SECONDS after a SIGKILL the watcher
        # did not see end), "forced" (no exit code at all). Anything but the watcher's is a miss.
        self.exits_noticed: collections.Counter[str] = collections.Counter()
        self._deadlines = Deadlines("stop-deadlines")
        self._pinned: frozenset[str] = frozenset()  # image refs the tasks assigned here need (the agent's)
        self.image_gc = ImageCollector(self.images, self._images_in_use, cfg.image_gc)
        self._trash = Trash(os.path.join(cfg.data_dir, "trash"))  # removed containers' files (trash.py)
        self._trash.sweep()
        self._restore()
        self.overlays.collect()  # network namespaces no adopted container uses
        # Exits are settled on a small pool: a hundred containers killed at once release
        # (runc delete, the veth, unmount) in parallel, not one after the other.
        self._exit_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="exit")
        self._watcher = ExitWatcher(exit_dir, self._exit_seen, self._exited_per_state_dir)
        self._watcher.start()
        self.image_gc.start()

    # ----- set-up -----

    def _probe_runtimes(self) -> tuple[dict[str, OciRuntime], dict[str, str]]:
        usable: dict[str, OciRuntime] = {}
        unusable: dict[str, str] = {}
        for name in defaults.KNOWN_RUNTIMES:
            binary = self.cfg.runtime_paths.get(name) or shutil.which(name) or ""
            if not binary:
                unusable[name] = f"{name} is not installed"
                continue
            rt = RuncFamily(name, binary, os.path.join(self.cfg.run_dir, "runtime", name), self.conmon)
            reason = rt.probe()
            if reason:
                unusable[name] = reason
                log.info("runtime %s is not used: %s", name, reason)
            else:
                usable[name] = rt
        return usable, unusable

    def close(self) -> None:
        """Stop watching; containers keep running under conmon (live restore)."""
        self._watcher.stop()
        self.image_gc.stop()
        self._exit_pool.shutdown(wait=True)
        self._trash.close()
        self.health.stop()
        self._deadlines.stop()
        self.overlays.close()
        try:
            self.namespaces.close()  # only if empty: running containers keep theirs across a restart
        except RuntimeFailure as exc:
            log.warning("%s", exc)

    def subscribe(self, callback: Callable[[ContainerEvent], None]) -> None:
        self._subscribers.append(callback)

    def _emit(self, kind: str, c: Container) -> None:
        event = ContainerEvent(kind, copy.deepcopy(c))
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:
                log.exception("container event subscriber failed")

    # ----- lookup -----

    def _files(self, cid: str) -> ContainerFiles:
        return ContainerFiles(os.path.join(self._containers_dir, cid))

    def _find(self, ref: str) -> Container:
        with self._lock:
            if ref in self._containers:
                return self._containers[ref]
            for c in self._containers.values():
                if c.name == ref:
                    return c
            found = [c for c in self._containers.values() if ref and c.id.startswith(ref)]
            if len(found) == 1:
                return found[0]
        raise NotFound(f"no such container: {ref}")

    def _ctr_lock(self, cid: str) -> threading.Lock:
        with self._lock:
            return self._ctr_locks.setdefault(cid, threading.Lock())

    def get(self, ref: str) -> Container:
        c = self._find(ref)
        with self._lock:
            return copy.deepcopy(c)

    def containers(self, all: bool = False) -> list[Container]:
        with self._lock:
            items = [copy.deepcopy(c) for c in self._containers.values() if all or c.running]
        return sorted(items, key=lambda c: c.created_at, reverse=True)

    def _volume_users(self) -> dict[str, list[tuple[str, str]]]:
        """Volume name -> the containers (any state) whose spec mounts it."""
        users: dict[str, list[tuple[str, str]]] = {}
        with self._lock:
            for c in self._containers.values():
                for m in c.spec.mounts:
                    if m.type == "volume":
                        users.setdefault(m.source, []).append((c.id, c.name))
        return users

    def _forget_volume(self, name: str, cid: str) -> None:
        self.volumes.forget(name, cid)

    def _runtime(self, name: str) -> OciRuntime:
        if name in self.runtimes:
            return self.runtimes[name]
        if name in self.unusable:
            raise InvalidArgument(f"runtime {name} cannot be used on this host: {self.unusable[name]}")
        raise InvalidArgument(f"unknown runtime {name!r}: available: {', '.join(sorted(self.runtimes))}")

    # ----- create / start -----

    def create(self, spec: pb.ContainerSpec, name: str = "") -> Container:
        with self.latency.time("create"):
            return self._create(spec, name)

    def _create(self, spec: pb.ContainerSpec, name: str = "") -> Container:
        containerspec.validate(spec)
        containerspec.validate_name(name)
        check_binds(list(spec.mounts), [self.cfg.data_dir, self.cfg.run_dir, *self.cfg.protected_dirs])
        image = self.images.acquire(spec.image)  # held from GC until the container is recorded
        try:
            return self._create_from(spec, name, image)
        finally:
            self.images.release([image.id])

    def _create_from(self, spec: pb.ContainerSpec, name: str, image: ImageRecord) -> Container:
        runtime = spec.runtime or self.cfg.runtime
        self._runtime(runtime)
        cid = secrets.token_hex(32)
        resolved = specs.resolve(spec, self.images.config(image.id), cid)
        if not name:
            base = spec.image.rsplit("/", 1)[-1].split(":", 1)[0]
            name = f"{base}_{cid[:6]}"
        files = self._files(cid)
        c = Container(
            id=cid,
            name=name,
            image=spec.image,
            image_id=image.id,
            spec=copy.deepcopy(spec),
            created_at=time.time(),
            runtime=runtime,
            cgroups_path=f"/{self.cfg.cgroup_parent}/{cid}",
            network=resolved.network,
            command=list(resolved.args),
            stop_signal=resolved.stop_signal,
            stop_grace=resolved.stop_grace,
        )
        with self._lock:
            for other in self._containers.values():
                if other.name == name:
                    raise AlreadyExists(f"container name {name!r} is already in use by container {other.id[:12]}")
            self._containers[cid] = c
        try:
            for d in (files.dir, files.upper, files.work, files.rootfs, files.etc, files.persist):
                os.makedirs(d, mode=0o700 if d == files.dir else 0o755)
            c.save(files.dir)
        except BaseException:
            with self._lock:
                self._containers.pop(cid, None)
            shutil.rmtree(files.dir, ignore_errors=True)
            raise
        self._emit("create", c)
        return self.get(cid)

    def run(self, spec: pb.ContainerSpec, name: str = "") -> Container:
        """Create and start; on a failed start the container is removed again."""
        return self.run_with_files(spec, name, {})

    def run_with_files(self, spec: pb.ContainerSpec, name: str, values: Mapping[str, bytes]) -> Container:
        """`run` for a task whose secrets and configs (spec.secrets/configs) have these values, by id:
        kept in memory and on the container's tmpfs (taskfiles.py), never in its record on disk."""
        c = self.create(spec, name)
        if values:
            with self._lock:
                self._values[c.id] = dict(values)
        try:
            return self.start(c.id)
        except BaseException:
            try:
                self.remove(c.id, force=True)
            except Exception:
                log.exception("removing container %s after a failed start", c.id[:12])
            raise

    def start(self, ref: str) -> Container:
        c = self._find(ref)
        with self._ctr_lock(c.id), self.latency.time("start"):
            if c.state == RUNNING:
                return self.get(c.id)
            self._start(c)
        self._emit("start", c)
        return self.get(c.id)

    # Records are fsynced when a container is created; later transitions are only atomically
    # replaced (a power cut loses at most the latest state, which restore re-derives from the runtime).
    def _start(self, c: Container) -> None:
        files = self._files(c.id)
        resolved = specs.resolve(c.spec, self.images.config(c.image_id), c.id)
        try:
            held = self.host.acquire(c, files, resolved, self._runtime(c.runtime), self._values.get(c.id))
        except BaseException as exc:
            with self._lock:
                c.error = str(exc)
                c.save(files.dir, fsync=False)
            raise
        with self._lock:
            c.state, c.pid, c.conmon_pid, c.ip, c.error = RUNNING, held.pid, held.conmon_pid, held.ip, ""
            c.started_at, c.finished_at, c.exit_code, c.oom_killed = time.time(), 0.0, 0, False
            c.exec_context = held.exec_context
            c.health = replace(c.health, status="starting" if resolved.healthcheck else "", failing_streak=0)
            c.save(files.dir, fsync=False)
            self._changed.notify_all()
        if resolved.healthcheck:
            self.health.watch(c.id, resolved.healthcheck)

    # ----- exit -----

    def _exit_seen(self, cid: str, how: str) -> None:
        def handle() -> None:
            try:
                self._on_exit_file(cid, how)
            except Exception:  # a pool thread has no one to raise to; a rescan will try again
                log.exception("recording the exit of %s", cid[:12])

        self._exit_pool.submit(handle)

    def _exited_per_state_dir(self) -> list[str]:
        """Running containers whose conmon recorded an exit in `state/exit`, for the watcher's rescan.

        conmon writes `state/exit` before the exit directory's file; should that second write fail,
        this is the only trace of the exit that the watcher can see. One younger than a second is
        left to the exit file conmon is about to write (else that file would outlive the record)."""
        with self._lock:
            running = [c.id for c in self._containers.values() if c.state == RUNNING]
        found = []
        for cid in running:
            try:
                age = time.time() - os.path.getmtime(os.path.join(self._files(cid).persist, "exit"))
            except FileNotFoundError:
                continue
            if age >= 1.0 and not os.path.exists(os.path.join(self.conmon.exit_dir, cid)):
                found.append(cid)
        return found

    def _on_exit_file(self, cid: str, how: str) -> None:
        with self._lock:
            c = self._containers.get(cid)
        if c is None:  # a removed container's (the watcher reports container ids only, never conmon's temp files)
            try:
                os.unlink(os.path.join(self.conmon.exit_dir, cid))
            except FileNotFoundError:
                pass
            return
        with self._ctr_lock(cid):
            if c.state != RUNNING or self._exit_code(c) is None:
                log.debug("exit file of %s: nothing to do (state %s)", cid[:12], c.state)
                return
            self._finish(c, noticed=how)
        log.debug("%s exited with %d (noticed by %s)", cid[:12], c.exit_code, how)
        self._emit("exit", c)

    def _exit_code(self, c: Container) -> int | None:
        for path in (os.path.join(self.conmon.exit_dir, c.id), os.path.join(self._files(c.id).persist, "exit")):
            try:
                with open(path) as f:
                    text = f.read().strip()
            except FileNotFoundError:
                continue
            if text.lstrip("-").isdigit():
                return int(text)
        return None

    def _finish(self, c: Container, exit_code: int | None = None, error: str = "", *, noticed: str) -> None:
        """Record the exit and release everything the start took. Caller holds the container lock."""
        files = self._files(c.id)
        code = self._exit_code(c) if exit_code is None else exit_code
        exit_file = os.path.join(self.conmon.exit_dir, c.id)
        try:
            finished = os.path.getmtime(exit_file)
        except FileNotFoundError:
            finished = time.time()
        oom = os.path.exists(os.path.join(files.persist, "oom"))
        if not oom:
            oom = cgroups.Cgroup(c.cgroups_path).usage().oom_kills > 0
        self.health.unwatch(c.id)
        self._deadlines.cancel(c.id)
        self._release(c)
        self._trash.discard(exit_file)  # gone now; its disk blocks are freed off this path
        with self._lock:
            c.state, c.pid, c.conmon_pid = EXITED, 0, 0
            c.exit_code = -1 if code is None else code
            # Never before the start as recorded: a process that exits at once is done before `start`
            # returns and started_at is stamped, and the exit file's mtime is the kernel's coarse clock
            # (a tick behind). Docker's FinishedAt is never before StartedAt either.
            c.oom_killed, c.finished_at = oom, max(finished, c.started_at)
            if error:
                c.error = error
            c.save(files.dir, fsync=False)
            self.exits_noticed[noticed] += 1
            self._changed.notify_all()

    def _release(self, c: Container) -> None:
        self.host.release(c, self._files(c.id), self.runtimes.get(c.runtime))

    # ----- stop / kill / remove / wait -----

    def _wait_exit(self, c: Container, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if c.state != RUNNING:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
            if self._exit_code(c) is not None:
                self._on_exit_file(c.id, "wait")  # do not depend on inotify alone

    def stop(self, ref: str, grace: float | None = None, wait: bool = True) -> Container:
        """Stop signal, grace period, SIGKILL. With wait=False, return once signalled: the SIGKILL
        comes from the deadline thread, and the exit arrives as an event."""
        if not wait:
            return self._request_stop(ref, grace)
        with self.latency.time("stop"):
            return self._stop(ref, grace)

    def _request_stop(self, ref: str, grace: float | None) -> Container:
        c = self._find(ref)
        grace = c.stop_grace if grace is None or grace < 0 else grace
        with self._ctr_lock(c.id):
            if c.state == RUNNING:
                log.debug("stopping %s: signal %d, SIGKILL in %.1fs", c.id[:12], c.stop_signal, grace)
                self._signal(c, c.stop_signal)
                self._deadlines.at(c.id, time.monotonic() + grace, lambda: self._kill_after_grace(c))
        return self.get(c.id)

    def _kill_after_grace(self, c: Container) -> None:
        with self._ctr_lock(c.id):
            if c.state == RUNNING:
                log.debug("%s outlived its grace period: SIGKILL", c.id[:12])
                try:
                    self._signal(c, signal.SIGKILL)
                except RuntimeFailure as exc:
                    log.warning("SIGKILL after the grace period of %s: %s", c.id[:12], exc)
                self._deadlines.at(c.id, time.monotonic() + KILL_WAIT_SECONDS, lambda: self._check_killed(c))

    def _check_killed(self, c: Container) -> None:
        """The stop's last resort, as `_stop` has: a container SIGKILL did not end is cleaned up."""
        if c.state != RUNNING:
            return
        if self._exit_code(c) is not None:
            log.warning("container %s: its exit was not seen by the exit watcher; recording it now", c.id[:12])
            self._on_exit_file(c.id, "fallback")
            return
        self._force_finish(c, f"the container did not exit after SIGKILL ({_processes(c)})")

    def _stop(self, ref: str, grace: float | None = None) -> Container:
        c = self._find(ref)
        grace = c.stop_grace if grace is None or grace < 0 else grace
        with self._ctr_lock(c.id):
            if c.state != RUNNING:
                return self.get(c.id)
            self._signal(c, c.stop_signal)
        if not self._wait_exit(c, grace):
            with self._ctr_lock(c.id):
                if c.state == RUNNING:
                    self._signal(c, signal.SIGKILL)
            if not self._wait_exit(c, KILL_WAIT_SECONDS):
                self._force_finish(c, "the container did not exit after SIGKILL")
        return self.get(c.id)

    def _signal(self, c: Container, sig: int) -> None:
        try:
            self._runtime(c.runtime).kill(c.id, self._files(c.id), sig)
        except (RuntimeFailure, NotFound) as exc:
            if self._exit_code(c) is None:
                raise RuntimeFailure(str(exc)) from None

    def _force_finish(self, c: Container, why: str) -> None:
        with self._ctr_lock(c.id):
            if c.state == RUNNING:
                log.warning("container %s: %s; cleaning up without its exit code", c.id[:12], why)
                self._finish(c, exit_code=137, error=why, noticed="forced")
        self._emit("exit", c)

    def kill(self, ref: str, sig: str | int = "SIGKILL") -> Container:
        number = sig if isinstance(sig, int) else parse_signal(sig)
        c = self._find(ref)
        with self._ctr_lock(c.id):
            if c.state != RUNNING:
                raise Conflict(f"container {ref} is not running")
            self._signal(c, number)
        if number == signal.SIGKILL:
            self._wait_exit(c, KILL_WAIT_SECONDS)
        return self.get(c.id)

    def wait(self, ref: str, timeout: float | None = None) -> Container:
        c = self._find(ref)
        self._wait_exit(c, timeout if timeout is not None else float("inf"))
        return self.get(c.id)

    def remove(self, ref: str, force: bool = False) -> None:
        with self.latency.time("remove"):
            self._remove(ref, force)

    def _remove(self, ref: str, force: bool = False) -> None:
        c = self._find(ref)
        if c.state == RUNNING:
            if not force:
                raise Conflict(f"container {ref} is running: stop it first, or remove it with --force")
            with self._ctr_lock(c.id):
                if c.state == RUNNING:
                    self._signal(c, signal.SIGKILL)
            if not self._wait_exit(c, KILL_WAIT_SECONDS):
                self._force_finish(c, "the container did not exit after SIGKILL")
        with self._ctr_lock(c.id):
            self.health.unwatch(c.id)
            self.host.release(
                c, self._files(c.id), self.runtimes.get(c.runtime)
            )  # a crashed start may have left something behind
            self._trash.discard(self._files(c.id).dir)
            with self._lock:
                self._containers.pop(c.id, None)
                self._ctr_locks.pop(c.id, None)
                self._values.pop(c.id, None)
                self._changed.notify_all()
        self._emit("remove", c)

    # ----- logs / exec / stats -----

    def logs(
        self, ref: str, follow: bool = False, tail: int = 0, stop: threading.Event | None = None
    ) -> Iterator[LogEntry]:
        """The container's output; with `follow`, until it exits or `stop` is set."""
        c = self._find(ref)
        halt = stop or threading.Event()
        return read_logs(self._files(c.id).log, follow, tail, running=lambda: c.state == RUNNING and not halt.is_set())

    def exec(
        self,
        ref: str,
        cmd: list[str],
        env: list[str] | None = None,
        timeout: float | None = None,
        on_output: Callable[[int, bytes], None] | None = None,
    ) -> tuple[int, bytes, bytes]:
        """The command in the running container as the container's own process (user, env, capabilities,
        rlimits); with `on_output` its output as it comes (OciRuntime.exec)."""
        if not cmd:
            raise InvalidArgument("exec needs a command")
        c = self._find(ref)
        if c.state != RUNNING or c.exec_context is None:
            raise Conflict(f"container {ref} is not running")
        ctx = c.exec_context
        merged = {e.partition("=")[0]: e for e in ctx.env}
        for item in env or []:
            if "=" not in item:
                raise InvalidArgument(f"invalid environment variable {item!r}: use KEY=VALUE")
            merged[item.partition("=")[0]] = item
        environment = list(merged.values())
        process = ocispec.exec_process(cmd, environment, ctx.cwd, ctx.uid, ctx.gid, ctx.capabilities, ctx.rlimits)
        with self.latency.time("exec"):
            return self._runtime(c.runtime).exec(c.id, self._files(c.id), process, timeout, on_output)

    def _run_probe(self, cid: str, check: specs.HealthCheck) -> Probe:
        start = time.time()
        try:
            code, out, err = self.exec(cid, list(check.argv), timeout=check.timeout)
            output = (out + err)[: defaults.HEALTH_OUTPUT_BYTES].decode("utf-8", "replace")
        except Exception as exc:  # timeouts and exec failures are failed probes
            if isinstance(exc, subprocess.TimeoutExpired):
                code, output = -1, f"Health check exceeded timeout ({check.timeout:g}s)"
            else:
                code, output = -1, str(exc)
        return Probe(start=start, end=time.time(), exit_code=code, output=output)

    def _record_probe(self, cid: str, probe: Probe) -> None:
        with self._lock:
            c = self._containers.get(cid)
        if c is None or c.state != RUNNING:
            return
        resolved = specs.resolve(c.spec, self.images.config(c.image_id), c.id)
        if resolved.healthcheck is None:
            return
        with self._lock:
            before = c.health.status
            c.health = next_health(c.health, probe, resolved.healthcheck, c.started_at)
            c.save(self._files(c.id).dir, fsync=False)
            changed = c.health.status != before
        if changed:
            self._emit("health", c)

    def stats(self, refs: list[str] | None = None) -> list[tuple[Container, cgroups.Usage]]:
        targets = [self._find(r) for r in refs] if refs else [c for c in self.containers() if c.running]
        return [(self.get(c.id), cgroups.Cgroup(c.cgroups_path).usage()) for c in targets if c.running]

    # ----- images -----

    def import_image(self, path: str, ref: str = "") -> list[ImageRecord]:
        try:
            return self.images.import_archive(path, ref)
        finally:
            self.image_gc.wake()

    def pin_images(self, refs: set[str]) -> None:
        """The image references tasks assigned to this node need: GC and prune never remove them."""
        self._pinned = frozenset(refs)

    def announce_pulls(self, refs: set[str]) -> None:
        """Pinned images (`NAME@sha256:…`) that tasks just assigned here will pull: those not held are
        announced to peers before the worker starts their pull (registry/inflight.py), so a node that
        names this one as its peer waits for the pull instead of going to the registry."""
        from .registry import inflight

        missing = []
        for ref in refs:
            digest = ref.rpartition("@")[2]
            if not digest.startswith("sha256:"):
                continue  # by tag: no peer asks for it
            try:
                self.images.resolve(ref)
            except (NotFound, InvalidArgument):
                missing.append(digest)
        if missing:
            inflight.announce(self.images.root, missing)

    def _images_in_use(self) -> set[str]:
        with self._lock:
            used = {c.image_id for c in self._containers.values()}
        for ref in self._pinned:
            try:
                used.add(self.images.resolve(ref).id)
            except (NotFound, InvalidArgument):
                pass  # not here (yet): nothing to keep
        return used

    def prune_images(self, all: bool = False) -> Pruned:
        return self.image_gc.prune(all)

    def registry_settings(self) -> RegistrySettings:
        """registries.json (read now: an edit needs no restart) merged with the daemon's flags."""
        flags = RegistrySettings(insecure=self.cfg.insecure_registries, mirrors=self.cfg.registry_mirrors)
        return registry_settings.load(registry_settings.settings_path(self.cfg.data_dir), flags)

    def image_refs(self) -> list[str]:
        """Every tag, digest and id of the images present (what the scheduler and the pinning leader
        read: heldrefs.py)."""
        refs: list[str] = []
        for rec in self.images.records():
            refs += held_refs(rec.id, rec.tags, rec.repo_digests)
        return refs

    def ensure_image(
        self,
        ref: str,
        creds: tuple[str, str] | None = None,
        peers: Sequence[str] = (),
        peer_tls: ssl.SSLContext | None = None,
    ) -> None:
        """Pull `ref` unless the store holds it (a task's image, by digest where its service pins one).

        One pull per reference at a time: the tasks of a service that land on this node together
        wait for the first one's pull instead of fetching the same layers side by side. By digest,
        `peers` (other nodes' peer servers, as the assignment names them) are asked first.
        """
        try:
            self.images.resolve(ref)
            return
        except NotFound:
            pass
        with self._lock:
            lock = self._pull_locks.setdefault(ref, threading.Lock())
        with lock:
            try:
                self.images.resolve(ref)
                return
            except NotFound:
                pass
            from .registry import pull

            with self.latency.time("pull"):
                pull.pull(self.images, ref, self.registry_settings(), creds=creds, peers=peers, peer_tls=peer_tls)
            self.image_gc.wake()

    def remove_image(self, ref: str, force: bool = False) -> list[str]:
        def in_use(image_id: str) -> bool:
            with self._lock:
                return any(c.image_id == image_id for c in self._containers.values())

        return self.images.remove(ref, in_use, force)

    # ----- overlay networks -----

    def set_networks(self, networks: list[dpb.NetworkPeers]) -> None:
        """The whole peer set of every overlay network this node's tasks are on (overlay.py)."""
        with self.latency.time("networks"):
            self.overlays.set_networks(networks)

    # ----- live restore -----

    def _restore(self) -> None:
        """Re-adopt containers after a daemon restart; settle any that exited meanwhile."""
        for cid in sorted(os.listdir(self._containers_dir)):
            directory = os.path.join(self._containers_dir, cid)
            try:
                c = Container.load(directory)
            except Exception as exc:
                log.error("container %s: unreadable record (%s); leaving it alone", cid[:12], exc)
                continue
            if c is None:
                shutil.rmtree(directory, ignore_errors=True)  # a create that never finished
                continue
            self._containers[c.id] = c
            if c.state == RUNNING and c.spec.attachments:
                ns = self.namespaces.locate(netns_name(c.id))
                self.overlays.adopt(c.id, ns, list(c.spec.attachments), list(c.spec.ports))
            if c.state != RUNNING:
                if is_mounted(self._files(c.id).rootfs) or self.network.holds_namespace(c.id):
                    self._release(c)
                continue
            if self._exit_code(c) is not None:
                self._finish(c, noticed="restore")
            elif not _alive(c.conmon_pid, "conmon"):
                self._finish(c, error="the container's monitor (conmon) was gone after a restart", noticed="restore")
            else:
                resolved = specs.resolve(c.spec, self.images.config(c.image_id), c.id)
                if resolved.healthcheck:
                    self.health.watch(c.id, resolved.healthcheck)
        self.host.taskfiles.sweep(c.id for c in self._containers.values() if c.state == RUNNING)
        log.info(
            "restored %d containers (%d running)",
            len(self._containers),
            sum(c.running for c in self._containers.values()),
        )

    def info(self) -> dict[str, object]:
        with self._lock:
            running = sum(c.running for c in self._containers.values())
            total = len(self._containers)
        return {
            "version": defaults.VERSION,
            "runtime": self.cfg.runtime,
            "runtimes": sorted(self.runtimes),
            "unusable_runtimes": [f"{k}: {v}" for k, v in sorted(self.unusable.items())],
            "cgroup_mode": cgroups.mode(),
            "containers_running": running,
            "containers": total,
            "images": len(self.images.records()),
            "bridge": self.cfg.bridge,
            "subnet": self.network.subnet,
        }


def _processes(c: Container) -> str:
    """What the container's init and its conmon look like now, for the log."""

    def state(pid: int) -> str:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return f"state {fields[0]}"
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return "gone"

    return f"init {c.pid}: {state(c.pid)}, conmon {c.conmon_pid}: {state(c.conmon_pid)}"


def _alive(pid: int, comm: str) -> bool:
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == comm
    except (FileNotFoundError, ProcessLookupError):
        return False
