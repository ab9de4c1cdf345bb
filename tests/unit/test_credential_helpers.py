"""Docker credential helpers (svc/credhelper.py, svc/dockerconfig.py): `credsStore` and `credHelpers`.

The helper is a real executable written by the test into a directory on PATH, speaking the protocol of
docker-credential-helpers: `get` / `erase` with the server on stdin, `store` with JSON on stdin, and
"credentials not found in native keychain" with a non-zero exit for a server it does not know.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from svc import dockerconfig
from svc.errors import InvalidArgument
from svc.registry import auth

HELPER = """#!{python}
import json, os, sys
db = os.path.join(os.path.dirname(os.path.abspath(__file__)), "{name}.json")
keep = json.load(open(db)) if os.path.exists(db) else {{}}
action, data = sys.argv[1], sys.stdin.read()
with open(db + ".log", "a") as log:
    log.write(action + " " + (data if action != "store" else json.loads(data)["ServerURL"]) + "\\n")
if action == "get":
    if data not in keep:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps({{"ServerURL": data, "Username": keep[data][0], "Secret": keep[data][1]}}))
elif action == "store":
    doc = json.loads(data); keep[doc["ServerURL"]] = [doc["Username"], doc["Secret"]]
    json.dump(keep, open(db, "w"))
elif action == "erase":
    if data not in keep:
        print("credentials not found in native keychain"); sys.exit(1)
    del keep[data]; json.dump(keep, open(db, "w"))
else:
    print("unknown action"); sys.exit(1)
"""


@pytest.fixture
def helpers(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("vault", "ecr"):
        prog = bin_dir / f"docker-credential-{name}"
        prog.write_text(HELPER.format(python=sys.executable, name=name))
        prog.chmod(0o755)
    broken = bin_dir / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return bin_dir


def _config(tmp_path, doc) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc))
    return str(path)


def _db(bin_dir, name):  # type: ignore[no-untyped-def]
    path = bin_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_login_and_logout_go_through_creds_store(helpers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _config(tmp_path, {"credsStore": "vault", "psFormat": "x"})
    assert dockerconfig.store("reg.example:5000", "alice", "s3cret") == "docker-credential-vault"
    assert dockerconfig.store("docker.io", "bob", "pw2") == "docker-credential-vault"
    doc = json.loads(open(path).read())
    assert doc["auths"] == {"reg.example:5000": {}, "https://index.docker.io/v1/": {}}  # as Docker writes it
    assert doc["psFormat"] == "x" and "s3cret" not in open(path).read()
    assert os.stat(path).st_mode & 0o777 == 0o600
    kept = {"reg.example:5000": ["alice", "s3cret"], "https://index.docker.io/v1/": ["bob", "pw2"]}
    assert _db(helpers, "vault") == kept
    assert dockerconfig.credentials("reg.example:5000") == ("alice", "s3cret")
    assert dockerconfig.credentials("registry-1.docker.io") == ("bob", "pw2")  # Docker Hub's key for the helper
    assert dockerconfig.credentials("other:1") is None  # the helper knows nothing of it: no credentials
    assert dockerconfig.erase("reg.example:5000") is True
    assert dockerconfig.erase("reg.example:5000") is False
    assert dockerconfig.credentials("reg.example:5000") is None
    assert "reg.example:5000" not in json.loads(open(path).read())["auths"]
    log = (helpers / "vault.json.log").read_text()
    assert "s3cret" not in log and "get reg.example:5000" in log  # the server on stdin, secrets only over pipes


def test_cred_helpers_name_one_registry_before_creds_store(helpers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = "b2xkOnB3"  # base64("old:pw")
    doc = {"credsStore": "vault", "credHelpers": {"ecr.example": "ecr"}, "auths": {"ecr.example": {"auth": old}}}
    _config(tmp_path, doc)
    dockerconfig.store("ecr.example", "AWS", "tok")
    assert _db(helpers, "ecr") == {"ecr.example": ["AWS", "tok"]} and _db(helpers, "vault") == {}
    doc = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert doc["auths"]["ecr.example"] == {}  # the old secret in the file is gone
    assert dockerconfig.credentials("ecr.example") == ("AWS", "tok")
    # the registry client's lookup (node settings files, then ~/.docker) goes the same way
    assert auth.credentials("ecr.example") == ("AWS", "tok")


def test_a_helper_without_the_server_falls_back_to_the_files_auths(helpers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _config(tmp_path, {"credsStore": "vault", "auths": {"plain:1": {"auth": "dTpw"}}})  # base64("u:p")
    assert dockerconfig.credentials("plain:1") == ("u", "p")


def test_helper_failures_are_one_line_naming_the_helper(helpers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _config(tmp_path, {"credsStore": "nosuch"})
    with pytest.raises(InvalidArgument, match="credential helper docker-credential-nosuch is not on PATH"):
        dockerconfig.credentials("reg:1")
    with pytest.raises(InvalidArgument, match="not on PATH"):
        dockerconfig.store("reg:1", "u", "p")
    assert "reg:1" not in (tmp_path / "docker" / "config.json").read_text()  # nothing half-made
    _config(tmp_path, {"credsStore": "broken"})
    with pytest.raises(InvalidArgument) as err:
        dockerconfig.credentials("reg:1")
    assert str(err.value) == "credential helper docker-credential-broken get: keychain locked"


def test_an_identity_token_is_docker_s_token_credentials(helpers, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A helper's `"Username": "<token>"` and an `auths` entry's `identitytoken` both mean an OAuth2 refresh
    token: `("<token>", TOKEN)`, which the registry client spends only through the refresh grant."""
    _config(tmp_path, {"credsStore": "vault"})
    (helpers / "vault.json").write_text(json.dumps({"reg:1": ["<token>", "refresh"]}))
    assert dockerconfig.credentials("reg:1") == (dockerconfig.TOKEN_USER, "refresh") == ("<token>", "refresh")
    _config(tmp_path, {"auths": {"reg:2": {"auth": "dTpw", "identitytoken": "rt-2"}}})  # before the password
    assert dockerconfig.credentials("reg:2") == ("<token>", "rt-2")
    path = dockerconfig.store("reg:3", "<token>", "rt-3")  # no helper: written as Docker writes it
    assert json.loads(open(path).read())["auths"]["reg:3"] == {"identitytoken": "rt-3"}
    assert dockerconfig.credentials("reg:3") == ("<token>", "rt-3")
