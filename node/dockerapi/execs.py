"""/containers/{id}/exec, /exec/{id}/start, /exec/{id}/json: a command in a running container, by Engine.exec.

The rules: the engine runs the command with the container's user, environment, capabilities and
rlimits; svc's exec has no terminal, no stdin, no other user or directory, so `-t`, `-i`, `-u`, `-w`
and `--privileged` are refused by name (501). Its output is collected, then written as stdcopy
frames (stdout, then stderr) on the hijacked connection; a command that cannot be started is a
stderr line and exit code 126 (127 when it does not exist), as dockerd reports it. Records are kept
for the last 256 execs.
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

    async def _run(self, e: Exec) -> tuple[bytes, bytes]:
        e.running = True
        try:
            code, out, err = await self.c.run(self.engine.exec, e.container_id, e.cmd, e.env, None)
        except (Conflict, NotFound, InvalidArgument):
            e.exit_code = 126
            raise
        except Exception as exc:
            e.exit_code = failed_code(str(exc))
            return b"", f"{exc}\n".encode()
        finally:
            e.running = False
            e.done.set()
        e.exit_code = code
        return out, err

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
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return web.Response(status=200)
        resp, raw = await hijack(request)
        try:
            try:
                out, err = await self._run(e)
            except (Conflict, NotFound, InvalidArgument) as exc:
                out, err = b"", f"{exc}\n".encode()
            if out and e.stdout:
                await raw.write(proto.frame(proto.STDOUT, out))
            if err and e.stderr:
                await raw.write(proto.frame(proto.STDERR, err))
        except ConnectionError:
            pass
        finally:
            finish(raw)
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
