"""/images: list, inspect, remove, tag, create (= pull from a registry), push, load (a `docker save` tarball).

The rules: each is the engine's own call (ImageStore for reads, Engine.remove_image, the shared
pull stream node/engine/pulling.py, Engine.import_image); a pull answers its HTTP status until its
first progress line (so a bad reference or an unknown image is a 400/404), then streams Docker's
JSON progress lines, a later failure being an `error` line (the CLI prints it and exits 1); a push
likewise (node/engine/pulling.py's push stream, svc image push's).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
import tempfile
from typing import Any

from aiohttp import web

from node.engine.pulling import pull_progress, push_progress
from node.engine.registry import push
from svc import dockerconfig
from svc.aioutil import iterate_in_thread
from svc.dockerapi import proto
from svc.dockerapi.http import Route, answer, flag
from svc.errors import InvalidArgument, SvcError

from .base import Calls


def summary(rec: Any, labels: dict[str, str]) -> dict[str, Any]:
    """GET /images/json's item (`docker images`)."""
    return {
        "Id": rec.id,
        "ParentId": "",
        "RepoTags": list(rec.tags),
        "RepoDigests": list(rec.repo_digests),
        "Created": int(rec.created),
        "Size": rec.size,
        "VirtualSize": rec.size,
        "SharedSize": -1,
        "Labels": labels or None,
        "Containers": -1,
    }


def details(rec: Any, config_json: bytes) -> dict[str, Any]:
    """GET /images/{name}/json (`docker image inspect`): the image's own config, as Docker shows it."""
    doc = json.loads(config_json or b"{}")
    return {
        "Id": rec.id,
        "RepoTags": list(rec.tags),
        "RepoDigests": list(rec.repo_digests),
        "Parent": "",
        "Comment": doc.get("comment", ""),
        "Created": doc.get("created") or proto.rfc3339(rec.created),
        "Container": "",
        "DockerVersion": doc.get("docker_version", ""),
        "Author": doc.get("author", ""),
        "Config": doc.get("config") or {},
        "Architecture": doc.get("architecture", ""),
        "Os": doc.get("os", ""),
        "Size": rec.size,
        "VirtualSize": rec.size,
        "GraphDriver": {"Name": "overlay", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(rec.layers)},
        "Metadata": {"LastTagTime": proto.rfc3339(0)},
    }


def matches(rec: Any, f: dict[str, list[str]]) -> bool:
    if f.get("dangling"):
        want = f["dangling"][0] in ("true", "1")
        if (not rec.tags) != want:
            return False
    if f.get("reference"):
        names = [t for t in rec.tags] + [t.rsplit(":", 1)[0] for t in rec.tags]
        if not any(fnmatch.fnmatch(n, pat) for pat in f["reference"] for n in names):
            return False
    return True


def check_filters(f: dict[str, list[str]]) -> None:
    for key in f:
        if key in ("before", "since", "label"):
            raise proto.Unsupported(f"the image filter {key!r} is not supported by svc: dangling, reference")
        if key not in ("dangling", "reference"):
            raise InvalidArgument(f"invalid filter {key!r}")


def registry_auth(header: str) -> tuple[str, str] | None:
    """X-Registry-Auth: base64url JSON {username, password} or {identitytoken} (then `("<token>", token)`,
    Docker's identity-token credentials); empty or `{}` is none."""
    if not header:
        return None
    try:
        padded = header + "=" * (-len(header) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        raise InvalidArgument("X-Registry-Auth is not base64 JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("identitytoken"), str) and doc["identitytoken"]:
        return dockerconfig.TOKEN_USER, doc["identitytoken"]
    if not isinstance(doc, dict) or not doc.get("username"):
        if isinstance(doc, dict) and doc.get("registrytoken"):
            raise proto.Unsupported("registry bearer tokens (registrytoken) are not supported by svc: log in")
        return None
    return str(doc["username"]), str(doc.get("password") or "")


def pull_reference(image: str, tag: str) -> str:
    if not image:
        raise InvalidArgument("fromImage is required (svc does not import with fromSrc)")
    if not tag:
        return image
    return f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"


def progress_line(p: Any, ref: str) -> bytes:
    """A progress line as docker's JSON stream; b"" for none: a line carrying the identity token the token
    service rotated the X-Registry-Auth one into is not the docker client's (no field of the stream holds
    it, and it must not reach a client as anything else): docker keeps its old token (docs/images.md)."""
    if getattr(p, "identity_token", ""):
        return b""
    status = f"Status: Downloaded newer image for {ref}" if p.status.startswith("Status: Downloaded") else p.status
    doc: dict[str, Any] = {"status": status}
    if p.id:
        doc["id"] = p.id
    if p.total:
        doc["progressDetail"] = {"current": p.current, "total": p.total}
    return json.dumps(doc).encode() + b"\r\n"


class Images:
    def __init__(self, calls: Calls) -> None:
        self.c = calls
        self.engine = calls.engine

    def routes(self) -> list[Route]:
        return [
            ("GET", "/images/json", self.list),
            ("POST", "/images/create", self.pull),
            ("POST", "/images/load", self.load),
            ("GET", "/images/{name:.+}/json", self.inspect),
            ("POST", "/images/{name:.+}/tag", self.tag),
            ("POST", "/images/{name:.+}/push", self.push),
            ("DELETE", "/images/{name:.+}", self.remove),
        ]

    async def list(self, request: web.Request) -> web.Response:
        f = proto.filters(request.query.get("filters", ""))
        check_filters(f)
        store = self.engine.images
        out = [summary(r, store.config(r.id).labels) for r in store.records() if matches(r, f)]
        return answer(sorted(out, key=lambda d: -d["Created"]))

    async def inspect(self, request: web.Request) -> web.Response:
        store = self.engine.images
        rec = store.resolve(request.match_info["name"])
        return answer(details(rec, store.config_bytes(rec.id)))

    async def remove(self, request: web.Request) -> web.Response:
        done = await self.c.run(self.engine.remove_image, request.match_info["name"], flag(request, "force"))
        return answer([{k: v for k, _, v in [item.partition(": ")]} for item in done])

    async def tag(self, request: web.Request) -> web.Response:
        repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
        if not repo:
            raise InvalidArgument("repo is required: docker tag SOURCE TARGET")
        target = f"{repo}:{tag}" if tag else repo
        await self.c.run(push.tag, self.engine.images, request.match_info["name"], target)
        return web.Response(status=201)

    async def push(self, request: web.Request) -> web.StreamResponse:
        name, tag = request.match_info["name"], request.query.get("tag", "")
        if not tag:
            raise proto.Unsupported("pushing every tag (docker push -a) is not supported by svc: name one")
        ref = f"{name}:{tag}"
        creds = registry_auth(request.headers.get("X-Registry-Auth", ""))
        return await self._stream(request, iterate_in_thread(lambda stop: push_progress(self.engine, ref, creds)), ref)

    async def pull(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        for key in ("fromSrc", "repo", "message", "changes"):
            if q.get(key):
                raise proto.Unsupported(
                    f"image import ({key}) is not supported by svc: use docker load or svc image import"
                )
        if (
            not q.get("tag")
            and q.get("fromImage")
            and "@" not in q["fromImage"]
            and ":" not in q["fromImage"].rsplit("/", 1)[-1]
        ):
            raise proto.Unsupported("pulling every tag (docker pull -a) is not supported by svc")
        ref = pull_reference(q.get("fromImage", ""), q.get("tag", ""))
        creds = registry_auth(request.headers.get("X-Registry-Auth", ""))
        platform = q.get("platform", "")
        events = iterate_in_thread(lambda stop: pull_progress(self.engine, ref, platform, creds))
        return await self._stream(request, events, ref)

    async def _stream(self, request: web.Request, events: Any, ref: str) -> web.StreamResponse:
        first = await anext(events)  # before the headers: an early failure is its HTTP status
        while not progress_line(first, ref):  # a rotated identity token's line, which is not shown
            first = await anext(events)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        p = first
        try:
            while True:
                if line := progress_line(p, ref):
                    await resp.write(line)
                try:
                    p = await anext(events)
                except StopAsyncIteration:
                    break
        except SvcError as exc:
            await resp.write(json.dumps({"errorDetail": {"message": exc.message}, "error": exc.message}).encode())
        except ConnectionError:
            return resp
        await resp.write_eof()
        return resp

    async def load(self, request: web.Request) -> web.Response:
        tmp_dir = os.path.join(self.engine.images.root, "tmp")
        fd, path = tempfile.mkstemp(dir=tmp_dir, suffix=".load")
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.content.iter_chunked(1 << 20):
                    f.write(chunk)
            if os.path.getsize(path) == 0:
                raise InvalidArgument("the image archive is empty")
            records = await self.c.run(self.engine.import_image, path, "")
        finally:
            os.unlink(path)
        lines = []
        for rec in records:
            names = [f"Loaded image: {t}" for t in rec.tags] or [f"Loaded image ID: {rec.id}"]
            lines += [json.dumps({"stream": n + "\n"}) for n in names]
        return web.Response(body=("\n".join(lines) + "\n").encode(), headers={"Content-Type": "application/json"})
