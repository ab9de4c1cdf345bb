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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from test_credential_helpers import HELPER  # the same protocol-speaking helper

from svc import dockerconfig
from svc.registry import oauth
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
