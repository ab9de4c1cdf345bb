"""/containers/{id}/exec, /exec/{id}/start, /exec/{id}/json: a command in a running container, by Engine.exec.

The rules: the engine runs the command with the container's user, environment, capabilities and
rlimits; svc's exec has no terminal, no stdin, no other user or directory, so `-t`, `-i`, `-u`, `-w`
and `--privileged` are refused by name (501). Its output is written as stdcopy frames on the
hijacked connection as it comes; a command that cannot be started is a stderr line and exit code 126
(127 when it does not exist), as dockerd reports it. Records are kept for the last 256 execs.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, body, finish, hijack
from svc.errors import Conflict, InvalidArgument, NotFound

from .base import Calls

_KEEP = 256
_REFUSED = {
    "Tty": "a terminal (docker exec -t)",
    "AttachStdin": "stdin (docker exec -i)",
    "User": "another user (docker exec -u)",
    "WorkingDir": "another working directory (docker exec -w)",
    "Privileged": "--privileged",
}


@dataclass
class Exec:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    stdout: bool
    stderr: bool
    running: bool = False
    exit_code: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def exec_request(doc: Any) -> tuple[list[str], list[str], bool, bool]:
    """(cmd, env, stdout, stderr) of an exec create body; refusals by name. Pure."""
    if not isinstance(doc, dict):
        raise InvalidArgument("the exec body must be a JSON object")
    for key, what in _REFUSED.items():
        if doc.get(key):
            raise proto.Unsupported(f"exec with {what} is not supported by svc")
    cmd, env = doc.get("Cmd") or [], doc.get("Env") or []
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise InvalidArgument("No exec command specified")
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise InvalidArgument("Env must be a list of strings")
    return cmd, env, bool(doc.get("AttachStdout")), bool(doc.get("AttachStderr"))


def failed_code(message: str) -> int:
    """dockerd's exit code for an exec that could not start."""
    low = message.lower()
    return 127 if "no such file" in low or "not found" in low else 126


class Execs:
    def __init__(self, calls: Calls) -> None:
        self.c = calls
        self.engine = calls.engine
        self.execs: collections.OrderedDict[str, Exec] = collections.OrderedDict()
        self._running: set[asyncio.Future[Any]] = set()

    def routes(self) -> list[Route]:
        return [
            ("POST", "/containers/{id}/exec", self.create),
            ("POST", "/exec/{id}/start", self.start),
            ("GET", "/exec/{id}/json", self.inspect),
            ("POST", "/exec/{id}/resize", self.resize),
        ]

    def _get(self, request: web.Request) -> Exec:
        e = self.execs.get(request.match_info["id"])
        if e is None:
            raise NotFound(f"No such exec instance: {request.match_info['id']}")
        return e

    async def create(self, request: web.Request) -> web.Response:
        cmd, env, out, err = exec_request(await body(request))
        ref = request.match_info["id"]
        c = self.engine.get(ref)
        if c.state != "running":
            raise Conflict(f"container {ref} is not running")
        e = Exec(secrets.token_hex(32), c.id, cmd, env, out, err)
        self.execs[e.id] = e
        while len(self.execs) > _KEEP:
            self.execs.popitem(last=False)
        return answer({"Id": e.id}, 201)

    async def _run(self, e: Exec, on_output: Any = None) -> bytes:
        """Run it; the error to show when it could not start (b"" when it ran)."""
        e.running = True
        try:
            code, _, _ = await self.c.run(self.engine.exec, e.container_id, e.cmd, e.env, None, on_output)
        except (Conflict, NotFound, InvalidArgument) as exc:
            e.exit_code = 126
            return f"{exc}\n".encode()
        except Exception as exc:
            e.exit_code = failed_code(str(exc))
            return f"{exc}\n".encode()
        finally:
            e.running = False
            e.done.set()
        e.exit_code = code
        return b""

    async def start(self, request: web.Request) -> web.StreamResponse:
        e = self._get(request)
        doc = await body(request) or {}
        if not isinstance(doc, dict):
            raise InvalidArgument("the exec start body must be a JSON object")
        if doc.get("Tty"):
            raise proto.Unsupported("exec with a terminal (docker exec -t) is not supported by svc")
        if e.running or e.exit_code is not None:
            raise Conflict(f"exec {e.id[:12]} has already run")
        if doc.get("Detach"):
            task = asyncio.ensure_future(self._run(e))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            return web.Response(status=200)
        resp, raw = await hijack(request)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        wanted = {proto.STDOUT} if e.stdout else set()
        wanted |= {proto.STDERR} if e.stderr else set()

        def on_output(stream: int, data: bytes) -> None:  # the exec's thread
            if stream in wanted:
                loop.call_soon_threadsafe(chunks.put_nowait, (stream, data))

        async def run() -> None:
            failed = await self._run(e, on_output)
            if failed and proto.STDERR in wanted:
                chunks.put_nowait((proto.STDERR, failed))
            chunks.put_nowait(None)

        pumping = asyncio.ensure_future(run())
        try:
            while (item := await chunks.get()) is not None:
                await raw.write(proto.frame(*item))
        except ConnectionError:
            pass  # the client went away; the command runs on to its end, as with dockerd
        finally:
            finish(raw)
        if not pumping.done():  # the client left first: the command runs on (a reference keeps its task)
            self._running.add(pumping)
            pumping.add_done_callback(self._running.discard)
        return resp

    async def inspect(self, request: web.Request) -> web.Response:
        e = self._get(request)
        return answer(
            {
                "ID": e.id,
                "ContainerID": e.container_id,
                "Running": e.running,
                "ExitCode": e.exit_code,
                "OpenStdin": False,
                "OpenStdout": e.stdout,
                "OpenStderr": e.stderr,
                "CanRemove": False,
                "DetachKeys": "",
                "Pid": 0,
                "ProcessConfig": {
                    "tty": False,
                    "entrypoint": e.cmd[0],
                    "arguments": e.cmd[1:],
                    "privileged": False,
                    "user": "",
                },
            }
        )

    async def resize(self, request: web.Request) -> web.Response:
        raise proto.Unsupported("resizing an exec's terminal is not supported by svc (no terminals)")
