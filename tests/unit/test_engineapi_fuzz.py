"""Fuzzing the Engine API's readers of Docker's JSON (bounded, seeded): valid requests with one part
replaced by a value of another type or shape are read, or refused with InvalidArgument — never another
exception (which the server would answer as a 500) — and the app answers malformed bodies, bad query
values and unknown paths with a 4xx."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from manager import servicespec
from manager.engineapi import logs, objshapes, specin, updateconfig
from manager.engineapi.server import EngineAPI
from svc import defaults, errors
from svc.v1 import cluster_pb2 as cpb

_SERVICE = {
    "Name": "web",
    "Labels": {"a": "b"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "busybox", "Args": ["sleep", "1"], "Env": ["X=1"], "Init": True, "Hosts": ["10.0.0.1 db"],
            "Sysctls": {"net.core.somaxconn": "1024"}, "Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000, "Retries": 2},
            "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
            "Secrets": [{"File": {"Name": "s", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": "x",
                         "SecretName": "s"}],
            "StopGracePeriod": 1_000_000_000,
        },
        "Resources": {"Limits": {"MemoryBytes": 1 << 26}, "Reservations": {"NanoCPUs": 1}},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 1, "MaxAttempts": 2},
        "Placement": {"Constraints": ["node.role==worker"], "MaxReplicas": 2},
        "Networks": [{"Target": "n", "Aliases": ["w"]}],
        "ForceUpdate": 1,
    },
    "Mode": {"Replicated": {"Replicas": 2}},
    "UpdateConfig": {"Parallelism": 2, "Delay": 1, "FailureAction": "pause", "Monitor": 1, "Order": "start-first"},
    "RollbackConfig": {"Parallelism": 1},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080}]},
}  # fmt: skip
_NETWORK = {"Name": "n", "Driver": "overlay", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}]},
            "Labels": {"a": "b"}, "Options": {}, "Internal": True}  # fmt: skip
_SECRET = {"Name": "s", "Labels": {"a": "b"}, "Data": "dmFsdWU="}


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kinds: list[Any] = [None, True, -1, 0, 2**63, 1.5, float("inf"), "", "x" * rng.randint(1, 300), "\u0000\u2603"]
    if depth < 3:
        kinds += [[_junk(rng, depth + 1)], {"k": _junk(rng, depth + 1)}, {}, []]
    return rng.choice(kinds)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutants(doc: Any, seed: int, n: int) -> list[Any]:
    rng = random.Random(seed)
    paths = _paths(doc)
    out = []
    for _ in range(n):
        d = copy.deepcopy(doc)
        path = rng.choice(paths)
        if not path:
            out.append(_junk(rng))
            continue
        parent = d
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.15 and isinstance(parent, dict):
            parent[f"Unknown{rng.randint(0, 9)}"] = _junk(rng)  # a field svc has never heard of
        else:
            parent[path[-1]] = _junk(rng)
        out.append(d)
    return out


def _only_invalid_argument(read: Any, docs: list[Any]) -> int:
    ok = 0
    for d in docs:
        try:
            read(d)
            ok += 1
        except errors.InvalidArgument:
            pass
    return ok


def test_mutated_requests_are_read_or_refused_by_name() -> None:
    def service(d: Any) -> None:
        servicespec.validate(specin.service_spec(d))

    def policy(d: Any) -> None:
        updateconfig.from_docker(d, "UpdateConfig", cpb.UpdateConfig())

    service(copy.deepcopy(_SERVICE))  # the seed document itself is valid
    assert _only_invalid_argument(service, _mutants(_SERVICE, 1, 1500)) > 100  # some mutants stay valid
    _only_invalid_argument(objshapes.network_spec, _mutants(_NETWORK, 2, 500))
    _only_invalid_argument(lambda d: objshapes.secret_spec(d, "secret"), _mutants(_SECRET, 3, 300))
    _only_invalid_argument(policy, _mutants(_SERVICE["UpdateConfig"], 4, 300))
    rng = random.Random(5)
    queries = [{"stdout": "1", "tail": str(_junk(rng)), "since": str(_junk(rng))} for _ in range(200)]
    _only_invalid_argument(lambda q: logs.options(q, 0.0), queries)


class _Control:
    """Every call finds nothing: the app's own reading is what is fuzzed here."""

    def __getattr__(self, name: str) -> Any:
        async def call(request: Any, context: Any) -> Any:
            raise errors.NotFound(f"nothing: {name}")

        return call


def test_the_app_answers_malformed_requests_with_4xx() -> None:
    async def run() -> None:
        m = type("M", (), {"node_id": "n1", "api_addr": "1.2.3.4:4242", "hostname": "h", "cluster": None})()
        api = EngineAPI(m, _Control())  # type: ignore[arg-type]
        rng = random.Random(6)
        bodies = [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"Name": ' + b"[" * 5000, b'"x"', b"1e999"]
        async with TestClient(TestServer(api.app())) as client:
            for method, path, _ in api.routes():
                url = "/v1.41" + path.replace("{id}", "x%2F..%2F").replace("{name:.+}", "a/b").replace(
                    "{verb:join|leave|unlock}", "join"
                )
                for body in bodies:
                    query = {"filters": rng.choice(["{", "[]", '{"a": 1}', ""]), "version": "nope", "tail": "x"}
                    r = await client.request(method, url, data=body, params=query)
                    # answered (/_ping needs nothing), or refused: never an internal error
                    assert r.status < 500 or r.status in (501, 503), (method, url, body[:20], r.status, await r.text())
            r = await client.post("/v1.41/services/create", data=b"x" * (defaults.DOCKER_API_MAX_BODY_BYTES + 1))
            assert r.status == 413
            for path in ("/v1.41/../../etc/passwd", "/v9.x/info", "/containers/json", "/" + "a/" * 500):
                r = await client.get(path)
                assert 400 <= r.status < 500 or r.status == 501, (path, r.status)

    asyncio.run(run())
