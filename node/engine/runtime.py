"""Drive an OCI runtime binary (runc or crun: one CLI, one implementation) under conmon.

`OciRuntime` is the interface the engine uses; `RuncFamily` implements it for every binary
that speaks runc's command line. Each call passes the runtime a JSON log file, and a
failure is reported with the runtime's own last error line from that log.
"""

from __future__ import annotations

import abc
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from svc import defaults
from svc.errors import NotFound, RuntimeFailure

from . import ocispec
from .monitor import Conmon

Output = Callable[[int, bytes], None]  # an exec's output as it comes: (1 stdout | 2 stderr, bytes)


@dataclass(frozen=True)
class ContainerFiles:
    """Where one container's runtime files live (see engine.md)."""

    dir: str

    @property
    def bundle(self) -> str:
        return self.dir

    @property
    def config(self) -> str:
        return os.path.join(self.dir, "config.json")

    @property
    def rootfs(self) -> str:
        return os.path.join(self.dir, "rootfs")

    @property
    def upper(self) -> str:
        return os.path.join(self.dir, "upper")

    @property
    def work(self) -> str:
        return os.path.join(self.dir, "work")

    @property
    def log(self) -> str:
        return os.path.join(self.dir, "ctr.log")

    @property
    def runtime_log(self) -> str:
        return os.path.join(self.dir, "runtime.log")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.dir, "pid")

    @property
    def conmon_pidfile(self) -> str:
        return os.path.join(self.dir, "conmon.pid")

    @property
    def persist(self) -> str:
        """conmon writes `exit` (the exit code) and `oom` here."""
        return os.path.join(self.dir, "state")

    @property
    def etc(self) -> str:
        """resolv.conf, hosts and hostname, bind-mounted into the container."""
        return os.path.join(self.dir, "etc")


def last_error(log_path: str) -> str:
    """The runtime's last error message from its JSON log, or ''."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            if line.strip():
                return line.strip()
            continue
        if entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", "")).strip()
    return ""


class OciRuntime(abc.ABC):
    """What the engine needs from a runtime. One conformance suite checks every implementation."""

    name: str

    @abc.abstractmethod
    def probe(self) -> str | None:
        """None if the runtime works on this host, else why not (one line)."""

    @abc.abstractmethod
    def create(self, cid: str, files: ContainerFiles) -> tuple[int, int]:
        """Create the container under a monitor; returns (container pid, monitor pid)."""

    @abc.abstractmethod
    def start(self, cid: str, files: ContainerFiles) -> None: ...

    @abc.abstractmethod
    def kill(self, cid: str, files: ContainerFiles, sig: int, all_processes: bool = False) -> None: ...

    @abc.abstractmethod
    def delete(self, cid: str, files: ContainerFiles, force: bool = False) -> None: ...

    @abc.abstractmethod
    def state(self, cid: str) -> dict[str, Any] | None:
        """The runtime's view of the container, or None if it does not know it."""

    @abc.abstractmethod
    def exec(
        self,
        cid: str,
        files: ContainerFiles,
        process: dict[str, Any],
        timeout: float | None,
        on_output: Output | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run a process in the running container; (exit code, stdout, stderr). With `on_output`, the
        output is handed to it as it comes (1 stdout, 2 stderr) instead, and both are returned empty."""


class RuncFamily(OciRuntime):
    def __init__(self, name: str, binary: str, state_root: str, conmon: Conmon) -> None:
        self.name = name
        self.binary = binary
        self.root = state_root
        self.conmon = conmon
        os.makedirs(state_root, mode=0o700, exist_ok=True)

    def _global_args(self, log: str) -> list[str]:
        return [self.binary, "--root", self.root, "--log", log, "--log-format", "json"]

    def _run(self, files: ContainerFiles, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [*self._global_args(files.runtime_log), *args], capture_output=True, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            message = last_error(files.runtime_log) or proc.stderr.decode("utf-8", "replace").strip()
            if "does not exist" in message or "not found" in message.lower():
                raise NotFound(f"{self.name} {args[0]}: {message}")
            raise RuntimeFailure(f"{self.name} {args[0]}: {message or f'exit status {proc.returncode}'}")
        return proc

    def probe(self) -> str | None:
        if not os.path.exists(self.binary):
            return f"{self.binary} is not installed"
        scratch = tempfile.mkdtemp(prefix="svc-probe-")
        cid = "svc-probe-" + uuid.uuid4().hex[:8]
        try:
            os.mkdir(os.path.join(scratch, "rootfs"))
            bundle = ocispec.Bundle(
                args=["/svc-runtime-probe"],
                env=[],
                cwd="/",
                uid=0,
                gid=0,
                additional_gids=[],
                hostname="probe",
                rootfs=os.path.join(scratch, "rootfs"),
                read_only=False,
                capabilities=[],
                # A cgroup of its own at the top, which `runc delete` removes (a parent of ours would stay).
                cgroups_path=f"/{cid}",
                netns_path=None,
            )
            config = ocispec.build_config(bundle)
            config["mounts"] = [m for m in config["mounts"] if m["destination"] in ("/proc", "/dev")]
            with open(os.path.join(scratch, "config.json"), "w") as f:
                json.dump(config, f)
            log = os.path.join(scratch, "log.json")
            proc = subprocess.run(
                [*self._global_args(log), "run", "--bundle", scratch, cid],
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=defaults.RUNTIME_PROBE_TIMEOUT_SECONDS,
            )
            message = last_error(log) or proc.stderr.decode("utf-8", "replace").strip()
            # Success means the runtime got as far as executing our (missing) probe binary.
            if "svc-runtime-probe" in message:
                return None
            return message or f"{self.name} failed the probe with exit status {proc.returncode}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{self.name} probe failed: {exc}"
        finally:
            subprocess.run([*self._global_args(os.devnull), "delete", "-f", cid], capture_output=True)
            shutil.rmtree(scratch, ignore_errors=True)

    def create(self, cid: str, files: ContainerFiles) -> tuple[int, int]:
        runtime_args = ["--root", self.root, "--log-format=json", f"--log={files.runtime_log}"]
        try:
            return self.conmon.launch(cid, self.binary, runtime_args, files)
        except RuntimeFailure as exc:
            detail = last_error(files.runtime_log)
            raise RuntimeFailure(f"{self.name} create: {detail or exc}") from None

    def start(self, cid: str, files: ContainerFiles) -> None:
        self._run(files, "start", cid)

    def kill(self, cid: str, files: ContainerFiles, sig: int, all_processes: bool = False) -> None:
        args = ["kill", *(["--all"] if all_processes else []), cid, str(sig)]
        self._run(files, *args)

    def knows(self, cid: str) -> bool:
        """Whether the runtime holds state for `cid` (its state directory), without running it."""
        return os.path.isdir(os.path.join(self.root, cid))

    def delete(self, cid: str, files: ContainerFiles, force: bool = False) -> None:
        if not self.knows(cid):
            return
        proc = self._run(files, "delete", *(["--force"] if force else []), cid, check=False)
        if proc.returncode != 0 and self.knows(cid):
            message = last_error(files.runtime_log) or proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeFailure(f"{self.name} delete: {message}")

    def state(self, cid: str) -> dict[str, Any] | None:
        proc = subprocess.run(
            [self.binary, "--root", self.root, "state", cid], capture_output=True, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            return None
        try:
            return dict(json.loads(proc.stdout))
        except ValueError:
            return None

    def exec(
        self,
        cid: str,
        files: ContainerFiles,
        process: dict[str, Any],
        timeout: float | None,
        on_output: Output | None = None,
    ) -> tuple[int, bytes, bytes]:
        fd, spec_path = tempfile.mkstemp(prefix="exec-", suffix=".json", dir=files.dir)
        pid_path = spec_path[:-5] + ".pid"
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(process, f)
            proc = subprocess.Popen(
                [*self._global_args(files.runtime_log), "exec", "--process", spec_path, "--pid-file", pid_path, cid],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            try:
                if on_output is None:
                    out, err = proc.communicate(timeout=timeout)
                else:
                    out, err = b"", _pump(proc, on_output, timeout)
            except subprocess.TimeoutExpired:
                self._kill_exec(pid_path)
                proc.kill()
                out, err = proc.communicate()
                raise
            if proc.returncode != 0 and not os.path.exists(pid_path):
                message = last_error(files.runtime_log) or err.decode("utf-8", "replace").strip()
                raise RuntimeFailure(f"{self.name} exec: {message}")
            return proc.returncode, out, err
        finally:
            for p in (spec_path, pid_path):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    @staticmethod
    def _kill_exec(pid_path: str) -> None:
        try:
            with open(pid_path) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _pump(proc: subprocess.Popen[bytes], on_output: Output, timeout: float | None) -> bytes:
    """Hand an exec's stdout and stderr to `on_output` as they come, until both close; the last 64 KiB of
    stderr is kept for the runtime's error message."""
    deadline = None if timeout is None else time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, 1)
    sel.register(proc.stderr, selectors.EVENT_READ, 2)
    err = b""
    with sel:
        while sel.get_map():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout or 0)
            for key, _ in sel.select(wait):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                if key.data == 2:
                    err = (err + data)[-65536:]
                on_output(key.data, data)
    proc.wait()
    return err
