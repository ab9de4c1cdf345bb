"""The Engine API server: aiohttp on a root-only unix socket, each endpoint one call of the control API.

The rule: no endpoint decides anything. Each calls the manager's own ControlService in-process (the
same object the gRPC server serves, so a follower forwards to the leader as it does for `svc`) and
converts with shapes/specin. Root on the manager host is an admin already (the local CLI's admin
credential lives in the run dir too), so the socket is mode 0600 and the calls are an admin's.
Paths are served with and without a `/v1.NN` prefix; a newer version than 1.41 is refused, as
dockerd refuses it, and the client negotiates down. Errors are `{"message": ...}`, with the status
from shapes.http_status; a path svc does not serve is a 501 naming it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from svc import defaults
from svc.errors import InvalidArgument, NotFound, SvcError, Unavailable
from svc.rpc import error_from_rpc
from svc.v1 import common_pb2
from svc.v1 import control_pb2 as ctl

from ..controlapi import ControlService
from ..core import Manager
from . import shapes, specin

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def _json(doc: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": the docker client reads an error's message only then (no charset).
    return web.Response(body=json.dumps(doc).encode(), status=status, headers={"Content-Type": "application/json"})


def _error(status: int, message: str) -> web.Response:
    return _json({"message": message}, status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("version", "")
    try:
        if version and shapes.version_newer(version, shapes.API_VERSION):
            raise InvalidArgument(
                f"client version {version} is too new. Maximum supported API version is {shapes.API_VERSION}"
            )
        return await handler(request)
    except web.HTTPException:
        raise
    except SvcError as exc:
        return _error(shapes.http_status(exc), exc.message)
    except Exception as exc:
        log.exception("engine API %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")


class EngineAPI:
    def __init__(self, manager: Manager, control: ControlService) -> None:
        self.m = manager
        self.control = control
        self._runner: web.AppRunner | None = None
        self.path = ""

    async def _call(self, method: str, request: Any) -> Any:
        return await getattr(self.control, method)(request, _LocalCall())

    # ----- negotiation -----

    async def ping(self, request: web.Request) -> web.Response:
        headers = {
            "API-Version": shapes.API_VERSION,
            "OSType": "linux",
            "Docker-Experimental": "false",
            "Swarm": "active/manager",
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
        }
        return web.Response(text="" if request.method == "HEAD" else "OK", headers=headers)

    async def version(self, request: web.Request) -> web.Response:
        engine = {"ApiVersion": shapes.API_VERSION, "MinAPIVersion": shapes.MIN_API_VERSION, "Os": "linux"}
        return _json(
            {
                "Platform": {"Name": f"svc {defaults.VERSION}"},
                "Components": [{"Name": "Engine", "Version": defaults.VERSION, "Details": engine}],
                "Version": defaults.VERSION,
                **engine,
                "GitCommit": "",
                "GoVersion": "",
                "Arch": _arch(),
                "KernelVersion": platform.release(),
            }
        )

    async def info(self, request: web.Request) -> web.Response:
        ci = await self._call("ClusterInfo", common_pb2.Empty())
        nodes = await self._call("ListNodes", ctl.ListNodesRequest())
        cluster = {
            "ID": ci.cluster_id,
            "Spec": {
                "Name": "default",
                "Orchestration": {"TaskHistoryRetentionLimit": defaults.TASK_HISTORY_PER_SLOT},
                "Dispatcher": {"HeartbeatPeriod": int(ci.heartbeat_period_seconds * shapes.NS)},
                "CAConfig": {"NodeCertExpiry": int(_cert_lifetime(self.m) * shapes.NS)},
                "EncryptionConfig": {"AutoLockManagers": ci.autolock},
            },
            "DefaultAddrPool": [defaults.OVERLAY_ADDR_POOL],
            "SubnetSize": defaults.OVERLAY_SUBNET_PREFIX,
        }
        swarm = {
            "NodeID": self.m.node_id,
            "NodeAddr": self.m.api_addr.rsplit(":", 1)[0],
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": [
                {"NodeID": n.id, "Addr": n.manager_status.api_addr} for n in nodes.nodes if n.HasField("manager_status")
            ],
            "Nodes": ci.nodes,
            "Managers": len(ci.managers),
            "Cluster": cluster,
        }
        return _json(
            {
                "ID": self.m.node_id,
                "Name": self.m.hostname,
                "ServerVersion": defaults.VERSION,
                "OSType": "linux",
                "OperatingSystem": f"svc manager {defaults.VERSION}",
                "Architecture": _arch(),
                "KernelVersion": platform.release(),
                "NCPU": os.cpu_count() or 0,
                "MemTotal": _mem_total(),
                "Containers": 0,
                "Images": 0,
                "Plugins": {"Volume": [], "Network": ["overlay"], "Log": []},
                "RegistryConfig": {"InsecureRegistryCIDRs": [], "IndexConfigs": {}, "Mirrors": []},
                "SecurityOptions": [],
                "Runtimes": {},
                "Swarm": swarm,
                # The CLI guesses warnings from the engine fields when this is empty: a manager has no engine.
                "Warnings": ["NOTE: an svc manager: it runs no containers itself, its cluster's nodes do"],
            }
        )

    # ----- services -----

    async def services(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "") in ("1", "true", "True")
        found: dict[str, Any] = {}
        for fs in shapes.filter_sets(shapes.filters(request.query.get("filters", ""))) or [[]]:
            reply = await self._call("ListServices", ctl.ListServicesRequest(filters=fs))
            found.update((s.id, s) for s in reply.services)
        out = sorted(found.values(), key=lambda s: s.spec.name)
        return _json([shapes.service(s, status) for s in out])

    async def service(self, request: web.Request) -> web.Response:
        s = await self._call("GetService", ctl.ServiceRef(service=request.match_info["id"]))
        return _json(shapes.service(s))

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"null")
        except ValueError as exc:
            raise InvalidArgument(f"the request body is not JSON: {exc}") from None

    async def create_service(self, request: web.Request) -> web.Response:
        spec = specin.service_spec(await self._body(request))
        specin.registry_auth(request.headers.get("X-Registry-Auth", ""), spec)
        s = await self._call("CreateService", ctl.CreateServiceRequest(spec=spec))
        return _json({"ID": s.id, "Warnings": list(s.warnings) or None}, 201)

    async def update_service(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        if request.query.get("rollback") == "previous":
            s = await self._call("RollbackService", ctl.ServiceRef(service=ref))
            return _json({"Warnings": list(s.warnings) or None})
        try:
            version = int(request.query.get("version", ""))
        except ValueError:
            raise InvalidArgument("an update needs the version it was read at (?version=N)") from None
        spec = specin.service_spec(await self._body(request))
        current = await self._call("GetService", ctl.ServiceRef(service=ref))
        specin.keep_unseen(spec, current.spec)
        specin.registry_auth(request.headers.get("X-Registry-Auth", ""), spec)
        s = await self._call("UpdateService", ctl.UpdateServiceRequest(service=current.id, version=version, spec=spec))
        return _json({"Warnings": list(s.warnings) or None})

    async def remove_service(self, request: web.Request) -> web.Response:
        await self._call("RemoveService", ctl.ServiceRef(service=request.match_info["id"]))
        return web.Response(status=200)

    async def distribution(self, request: web.Request) -> web.Response:
        raise Unavailable(
            "svc does not serve registry lookups here: the managers pin a service's image digest themselves"
        )

    # ----- tasks and nodes -----

    async def tasks(self, request: web.Request) -> web.Response:
        found: dict[str, Any] = {}
        for fs in shapes.filter_sets(shapes.filters(request.query.get("filters", ""))) or [[]]:
            req = ctl.ListTasksRequest()
            for item in fs:
                key, _, value = item.partition("=")
                if key == "service":
                    req.service = value
                elif key == "node":
                    req.node = value
                else:
                    req.filters.append(item)
            try:
                reply = await self._call("ListTasks", req)
            except NotFound:
                if req.service or req.node:
                    continue  # a filter naming nothing matches nothing, as in Docker
                raise
            found.update((t.id, t) for t in reply.tasks)
        return _json([shapes.task(t) for t in found.values()])

    async def nodes(self, request: web.Request) -> web.Response:
        f = shapes.filters(request.query.get("filters", ""))
        if f.get("membership") == ["accepted"]:
            del f["membership"]  # every svc node is accepted
        found: dict[str, Any] = {}
        for fs in shapes.filter_sets(f, {"name": "hostname"}) or [[]]:
            reply = await self._call("ListNodes", ctl.ListNodesRequest(filters=fs))
            found.update((n.id, n) for n in reply.nodes)
        return _json([shapes.node(n) for n in found.values()])

    async def node(self, request: web.Request) -> web.Response:
        n = await self._call("GetNode", ctl.NodeRef(node=request.match_info["id"]))
        return _json(shapes.node(n))

    async def unserved(self, request: web.Request) -> web.Response:
        return _error(501, f"svc does not serve {request.method} {request.path} (docs/docker-api.md)")

    # ----- the server -----

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=defaults.GRPC_MAX_MESSAGE_BYTES)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/_ping", self.ping),
            ("GET", "/version", self.version),
            ("GET", "/info", self.info),
            ("GET", "/services", self.services),
            ("POST", "/services/create", self.create_service),
            ("GET", "/services/{id}", self.service),
            ("POST", "/services/{id}/update", self.update_service),
            ("DELETE", "/services/{id}", self.remove_service),
            ("GET", "/tasks", self.tasks),
            ("GET", "/nodes", self.nodes),
            ("GET", "/nodes/{id}", self.node),
            ("GET", "/distribution/{name:.+}/json", self.distribution),
        ]
        for method, path, fn in routes:
            for prefix in ("", r"/v{version:[0-9]+\.[0-9]+}"):
                if method == "GET":
                    app.router.add_get(prefix + path, fn)  # and HEAD (the CLI's first /_ping)
                else:
                    app.router.add_route(method, prefix + path, fn)
        app.router.add_route("*", "/{tail:.*}", self.unserved)
        return app

    async def start(self, path: str) -> None:
        """Serve on a unix socket at `path`, mode 0600 from the moment it exists (bound under a
        temporary name, then renamed over any stale socket)."""
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if os.path.exists(tmp):
                os.unlink(tmp)
            sock.bind(tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise Unavailable(f"cannot serve the Docker API on {path}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.path = path
        log.info("Docker Engine API (%s) on unix://%s", shapes.API_VERSION, path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def _cert_lifetime(m: Manager) -> float:
    cluster = m.cluster  # this manager's replica: a display value, as fresh as its Raft log
    return (cluster.cert_lifetime if cluster is not None else 0.0) or defaults.CERT_LIFETIME_SECONDS


def _arch() -> str:
    return platform.machine()


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0
