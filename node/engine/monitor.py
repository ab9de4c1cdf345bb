"""conmon: the per-container monitor that outlives the node daemon.

conmon runs `<runtime> create`, then daemonizes. It holds the container's stdio and
writes it to a log file (k8s-file format), writes the exit code to `<exit dir>/<id>` and
`<persist dir>/exit`, and `<persist dir>/oom` after an OOM kill. Because it is not our
child once it daemonizes, the containers keep running while the node daemon restarts.

We learn the result of `create` from conmon's sync pipe: `{"data": <pid>}` on success,
`{"data": -1, "message": "..."}` on failure.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from typing import TYPE_CHECKING

from svc import defaults
from svc.errors import RuntimeFailure

if TYPE_CHECKING:
    from .runtime import ContainerFiles


class Conmon:
    def __init__(self, binary: str, exit_dir: str, socket_dir: str) -> None:
        self.binary = binary
        self.exit_dir = exit_dir
        self.socket_dir = socket_dir
        for d in (exit_dir, socket_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)

    def available(self) -> str | None:
        """None if conmon can be used, else why not."""
        if os.path.sep in self.binary:
            return None if os.access(self.binary, os.X_OK) else f"{self.binary} is not installed"
        return None if shutil.which(self.binary) else f"{self.binary} is not installed"

    def launch(self, cid: str, runtime: str, runtime_args: list[str], files: ContainerFiles) -> tuple[int, int]:
        """Start conmon for `cid`; returns (container pid, conmon pid) once the runtime created it."""
        problem = self.available()
        if problem:
            raise RuntimeFailure(problem)
        os.makedirs(files.persist, exist_ok=True)
        for stale in ("exit", "oom"):
            try:
                os.unlink(os.path.join(files.persist, stale))
            except FileNotFoundError:
                pass
        try:
            os.unlink(os.path.join(self.exit_dir, cid))
        except FileNotFoundError:
            pass
        args = [
            self.binary,
            "--api-version",
            "1",
            "-c",
            cid,
            "-u",
            cid,
            "-n",
            cid[:12],
            "-r",
            runtime,
            "-b",
            files.bundle,
            "-p",
            files.pidfile,
            "-P",
            files.conmon_pidfile,
            "-l",
            f"k8s-file:{files.log}",
            "--exit-dir",
            self.exit_dir,
            "--persist-dir",
            files.persist,
            "--socket-dir-path",
            self.socket_dir,
            "--syslog",
        ]
        for arg in runtime_args:
            args += ["--runtime-arg", arg]
        rfd, wfd = os.pipe()
        try:
            env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "_OCI_SYNCPIPE": str(wfd)}
            proc = subprocess.Popen(
                args,
                env=env,
                # conmon writes an `oom` file into its working directory (as well as into the
                # persist dir) when the container is OOM-killed: keep it in the container's own.
                cwd=files.persist,
                pass_fds=(wfd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            os.close(wfd)
            wfd = -1
            # conmon forks: this parent exits at once; the daemonized child keeps the pipe.
            _, err = proc.communicate(timeout=defaults.CONTAINER_CREATE_TIMEOUT_SECONDS)
            message = self._read_sync(rfd)
        finally:
            if wfd >= 0:
                os.close(wfd)
            os.close(rfd)
        if message is None:
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeFailure(detail[-1] if detail else "conmon exited without creating the container")
        pid = int(message.get("data", -1))
        if pid <= 0:
            raise RuntimeFailure(str(message.get("message") or "the runtime failed to create the container"))
        with open(files.conmon_pidfile) as f:
            conmon_pid = int(f.read().strip())
        return pid, conmon_pid

    @staticmethod
    def _read_sync(fd: int) -> dict | None:
        buf = b""
        while b"\n" not in buf:
            ready, _, _ = select.select([fd], [], [], defaults.CONTAINER_CREATE_TIMEOUT_SECONDS)
            if not ready:
                raise RuntimeFailure("timed out waiting for conmon to create the container")
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        if not line:
            return None
        try:
            return dict(json.loads(line))
        except ValueError:
            return {"data": -1, "message": line.decode("utf-8", "replace")}
