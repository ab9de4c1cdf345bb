"""Identity tokens kept as the token service hands them out (svc/dockerconfig.rotate, svc/registry/oauth.py,
svc/registry/client.Endpoint): a refresh token given at login replaces the password; one a refresh grant
rotates in is written back where the old one was read (config.json's entry, or the credential helper), and
nowhere when that place holds something else by now. A real helper executable on PATH, a real HTTP token
service on loopback."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from test_credential_helpers import HELPER  # the same protocol-speaking helper

from svc import dockerconfig
from svc.registry import client, oauth
from svc.registry.client import Endpoint


@pytest.fixture
def home(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    prog = bin_dir / "docker-credential-vault"
    prog.write_text(HELPER.format(python=sys.executable, name="vault"))
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return tmp_path


def _write(home, doc) -> str:  # type: ignore[no-untyped-def]
    path = home / "docker" / "config.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_rotated_token_replaces_the_file_s_entry_and_keeps_the_rest(home) -> None:  # type: ignore[no-untyped-def]
    path = _write(
        home,
        {"auths": {"reg.example": {"identitytoken": "rt-1", "email": "a@b"}, "other": {"auth": "eDp5"}}, "x": 1},
    )
    assert dockerconfig.rotate("reg.example", "rt-1", "rt-2") == path
    doc = json.loads(open(path).read())
    assert doc == {
        "auths": {"reg.example": {"identitytoken": "rt-2", "email": "a@b"}, "other": {"auth": "eDp5"}},
        "x": 1,
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert dockerconfig.credentials("reg.example") == (dockerconfig.TOKEN_USER, "rt-2")


def test_a_token_changed_since_is_left_alone(home) -> None:  # type: ignore[no-untyped-def]
    path = _write(home, {"auths": {"reg.example": {"identitytoken": "rt-from-a-newer-login"}}})
    assert dockerconfig.rotate("reg.example", "rt-1", "rt-2") == ""
    assert json.loads(open(path).read())["auths"]["reg.example"] == {"identitytoken": "rt-from-a-newer-login"}
    password = base64.b64encode(b"alice:pw").decode()
    _write(home, {"auths": {"reg.example": {"auth": password}}})
    assert dockerconfig.rotate("reg.example", "rt-1", "rt-2") == ""  # a password login: not a token to replace


def test_a_rotated_token_goes_back_into_the_helper_it_came_from(home) -> None:  # type: ignore[no-untyped-def]
    _write(home, {"credsStore": "vault"})
    dockerconfig.store("reg.example", dockerconfig.TOKEN_USER, "rt-1")
    assert json.loads((home / "docker" / "config.json").read_text())["auths"] == {"reg.example": {}}
    assert dockerconfig.rotate("reg.example", "rt-1", "rt-2") == "docker-credential-vault"
    kept = json.loads((home / "bin" / "vault.json").read_text())
    assert kept == {"reg.example": [dockerconfig.TOKEN_USER, "rt-2"]}
    assert "rt-" not in (home / "docker" / "config.json").read_text()  # never beside the helper's


def test_a_token_answer_s_refresh_token() -> None:
    def answer(doc: object) -> httpx.Response:
        return httpx.Response(200, json=doc)

    assert oauth.token_answer(answer({"token": "t", "refresh_token": "rt"}), "h").refresh == "rt"
    assert oauth.token_answer(answer({"access_token": "t"}), "h").refresh == ""
    assert oauth.token_answer(answer({"token": "t", "refresh_token": 7}), "h").refresh == ""
    assert oauth.token_answer(answer({"token": "t"}), "h").header == "Bearer t"


class _Registry:
    """/v2/ asks for a bearer token; /token is the realm: GET (login) and POST (refresh grant, rotating)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, list[str]]]] = []
        me = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _json(self, code: int, doc: dict[str, object], extra: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/v2/":
                    if self.headers.get("Authorization", "").startswith("Bearer "):
                        return self._json(200, {})
                    realm = f'Bearer realm="http://{self.headers["Host"]}/token",service="reg"'
                    return self._json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": realm})
                q = parse_qs(url.query)
                me.got.append(("GET", q))
                doc: dict[str, object] = {"token": "access"}
                if q.get("offline_token") == ["true"]:
                    doc["refresh_token"] = "rt-login"
                return self._json(200, doc)

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                me.got.append(("POST", form))
                n = len([g for g in me.got if g[0] == "POST"])
                return self._json(200, {"access_token": "access", "refresh_token": f"rt-{n + 1}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry():  # type: ignore[no-untyped-def]
    r = _Registry()
    yield r
    r.stop()


def test_a_login_asks_for_a_refresh_token_as_docker_login_does(registry) -> None:  # type: ignore[no-untyped-def]
    with Endpoint(registry.base, "reg.example", creds=("alice", "pw"), offline=True) as ep:
        ep.check_login()
        assert ep.refresh_token == "rt-login"
    ((method, q),) = registry.got
    assert method == "GET" and q["offline_token"] == ["true"] and q["client_id"] == ["svc"]
    assert q["account"] == ["alice"] and q["service"] == ["reg"]
    registry.got.clear()
    with Endpoint(registry.base, "reg.example", creds=("alice", "pw")) as ep:  # a pull: no refresh token asked
        ep.check_login()
        assert ep.refresh_token == ""
    assert "offline_token" not in registry.got[0][1]


def test_a_rotated_token_from_the_config_is_spent_next_and_written_back(registry, home) -> None:  # type: ignore[no-untyped-def]
    path = _write(home, {"auths": {"reg.example": {"identitytoken": "rt-1"}}})
    with Endpoint(registry.base, "reg.example") as ep:
        ep.check_login()  # the grant rotates rt-1 into rt-2
        assert ep.rotated == ""  # not the caller's: written back instead
        assert json.loads(open(path).read())["auths"]["reg.example"] == {"identitytoken": "rt-2"}
        ep._auth.clear()  # the bearer token expired: a new grant
        ep.check_login()
    spent = [f["refresh_token"] for m, f in registry.got if m == "POST"]
    assert spent == [["rt-1"], ["rt-2"]]
    assert json.loads(open(path).read())["auths"]["reg.example"] == {"identitytoken": "rt-3"}


def test_a_rotated_token_given_with_the_request_is_the_caller_s(registry, home) -> None:  # type: ignore[no-untyped-def]
    path = _write(home, {"auths": {"reg.example": {"identitytoken": "rt-1"}}})
    with Endpoint(registry.base, "reg.example", creds=(dockerconfig.TOKEN_USER, "rt-1")) as ep:
        ep.check_login()
        assert ep.rotated == "rt-2"
        ep._auth.clear()
        ep.check_login()
        assert ep.rotated == "rt-3"
    assert [f["refresh_token"] for m, f in registry.got if m == "POST"] == [["rt-1"], ["rt-2"]]
    assert json.loads(open(path).read())["auths"]["reg.example"] == {"identitytoken": "rt-1"}  # the caller writes


@pytest.fixture(autouse=True)
def _fresh_rotations():  # type: ignore[no-untyped-def]
    """The rotations recorded are process-wide: each test starts as a fresh process."""
    client._forget_rotations()
    yield
    client._forget_rotations()


class _Revoking:
    """A token service that rotates and revokes: a refresh token is good for one grant (a second spend is
    refused, `invalid_grant`); /v2/ wants a live access token, and `expire()` kills them all (the bearer
    token expired); a grant takes a while, so threads that got a 401 together are in it together.
    /v2/app/manifests/1 with a live token waits for `release` and answers 404."""

    def __init__(self, first: str = "rt-0") -> None:
        self.valid = {first}
        self.live: set[str] = set()
        self.spent: list[str] = []
        self.refused: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        me = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _json(self, code: int, doc: dict[str, object], extra: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with me.lock:
                    ok = self.headers.get("Authorization", "").removeprefix("Bearer ") in me.live
                if not ok:
                    realm = f'Bearer realm="http://{self.headers["Host"]}/token",service="reg"'
                    return self._json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": realm})
                if self.path.startswith("/v2/app/manifests/"):
                    me.release.wait(10)
                    return self._json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})
                return self._json(200, {})

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                token = form["refresh_token"][0]
                time.sleep(0.05)
                with me.lock:
                    if token not in me.valid:
                        me.refused.append(token)
                        return self._json(400, {"error": "invalid_grant", "error_description": "revoked"})
                    me.valid.discard(token)
                    me.spent.append(token)
                    n = len(me.spent)
                    me.valid.add(f"rt-{n}")
                    me.live.add(f"access-{n}")
                return self._json(200, {"access_token": f"access-{n}", "refresh_token": f"rt-{n}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.base = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def expire(self) -> None:
        with self.lock:
            self.live.clear()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def revoking():  # type: ignore[no-untyped-def]
    r = _Revoking()
    yield r
    r.stop()


def _together(n: int, *calls) -> list[BaseException]:  # type: ignore[no-untyped-def]
    """Each call on n threads at once; the exceptions they raised."""
    start = threading.Barrier(n * len(calls))
    failed: list[BaseException] = []

    def run(call) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        try:
            call()
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return failed


def test_threads_of_one_endpoint_hitting_a_401_together_spend_the_token_once(revoking, home) -> None:  # type: ignore[no-untyped-def]
    path = _write(home, {"auths": {revoking.host: {"identitytoken": "rt-0"}}})
    with Endpoint(revoking.base, revoking.host) as ep:
        assert _together(6, ep.check_login) == []  # no bearer token yet: one grant, the others take its answer
        revoking.expire()  # the bearer token expired: every thread's next request is a 401
        assert _together(6, ep.check_login) == []
    assert revoking.refused == []
    assert revoking.spent == ["rt-0", "rt-1"]  # each once
    assert json.loads(open(path).read())["auths"][revoking.host] == {"identitytoken": "rt-2"}


def test_two_endpoints_reading_one_token_spend_the_newest_not_the_revoked(revoking, home) -> None:  # type: ignore[no-untyped-def]
    """Two pulls on one node from one registry: both read rt-0 from the config; the second spends rt-1."""
    path = _write(home, {"auths": {revoking.host: {"identitytoken": "rt-0"}}})
    with Endpoint(revoking.base, revoking.host) as one, Endpoint(revoking.base, revoking.host) as two:
        assert _together(4, one.check_login, two.check_login) == []
        revoking.expire()
        assert _together(4, one.check_login, two.check_login) == []
    assert revoking.refused == []
    assert revoking.spent == ["rt-0", "rt-1", "rt-2", "rt-3"]
    assert json.loads(open(path).read())["auths"][revoking.host] == {"identitytoken": "rt-4"}


def test_a_caller_s_token_rotated_by_another_endpoint_is_told_step_by_step(revoking, home) -> None:  # type: ignore[no-untyped-def]
    """Two CLI pulls sending rt-0: the second spends rt-1 and tells its caller rt-1, then rt-2 (each CLI's
    write-back from the token it holds then finds it)."""
    told: dict[str, list[str]] = {"one": [], "two": []}
    creds = (dockerconfig.TOKEN_USER, "rt-0")
    with (
        Endpoint(revoking.base, revoking.host, creds=creds, on_rotate=told["one"].append) as one,
        Endpoint(revoking.base, revoking.host, creds=creds, on_rotate=told["two"].append) as two,
    ):
        assert _together(3, one.check_login, two.check_login) == []
    assert revoking.refused == [] and revoking.spent == ["rt-0", "rt-1"]
    assert sorted(told.values(), key=len) == [["rt-1"], ["rt-1", "rt-2"]]
    assert {one.rotated, two.rotated} == {"rt-1", "rt-2"}


def test_a_pull_hands_the_rotated_token_back_at_once_not_at_its_end(revoking, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The grant rotates rt-0 at the manifest's 401; the manifest then hangs: the token is on the progress
    stream already (a pull cut off now still hands it to the CLI)."""
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry.settings import RegistrySettings

    os.makedirs(tmp_path / "images" / "tmp")
    store = ImageStore(str(tmp_path / "images"))
    settings = RegistrySettings(insecure=(revoking.host,))
    got: list[object] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            pull.pull(
                store, f"{revoking.host}/app:1", settings, report=got.append, creds=(dockerconfig.TOKEN_USER, "rt-0")
            )
        except BaseException as exc:
            failed.append(exc)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert t.is_alive()  # still waiting for its manifest
    assert [p.identity_token for p in got] == ["rt-1"]  # type: ignore[attr-defined]
    revoking.release.set()
    t.join(10)
    assert len(failed) == 1 and "manifest unknown" in str(failed[0])
    assert [p.identity_token for p in got if p.identity_token] == ["rt-1"]  # type: ignore[attr-defined]


def test_a_docker_api_client_is_never_sent_the_rotated_token() -> None:
    from types import SimpleNamespace

    from node.dockerapi import images
    from node.engine.registry.pull import Progress

    assert images.progress_line(Progress(identity_token="rt-secret"), "x:1") == b""
    assert json.loads(images.progress_line(Progress(id="abc", status="Waiting"), "x:1")) == {
        "status": "Waiting",
        "id": "abc",
    }
    assert json.loads(images.progress_line(SimpleNamespace(id="", status="s", total=0), "x:1")) == {"status": "s"}


def test_a_login_leaves_no_older_secret_under_another_key_of_the_host(home) -> None:  # type: ignore[no-untyped-def]
    old = base64.b64encode(b"alice:old-password").decode()
    path = _write(
        home,
        {"auths": {dockerconfig.DOCKER_HUB_KEY: {"auth": old}, "docker.io": {"auth": old}, "other": {"auth": old}}},
    )
    dockerconfig.store("registry-1.docker.io", dockerconfig.TOKEN_USER, "rt-1", path)
    assert json.loads(open(path).read())["auths"] == {
        dockerconfig.DOCKER_HUB_KEY: {"identitytoken": "rt-1"},
        "other": {"auth": old},
    }
    _write(home, {"auths": {"https://reg.example": {"auth": old}, "reg.example/v2": {"auth": old}}})
    dockerconfig.store("reg.example", dockerconfig.TOKEN_USER, "rt-1", path)
    assert json.loads(open(path).read())["auths"] == {
        "reg.example": {"identitytoken": "rt-1"},
        "reg.example/v2": {"auth": old},  # not one of the keys a lookup reads
    }
    assert dockerconfig.credentials("reg.example") == (dockerconfig.TOKEN_USER, "rt-1")
    _write(home, {"auths": {"https://reg.example/v1/": {"auth": old}}})
    dockerconfig.store("reg.example", "alice", "new-password", path)
    assert dockerconfig.credentials("reg.example") == ("alice", "new-password")
    assert "https://reg.example/v1/" not in json.loads(open(path).read())["auths"]
