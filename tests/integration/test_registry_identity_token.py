"""Identity tokens (Docker's OAuth2 refresh tokens) against a real token-auth registry: the CNCF distribution
registry with `auth: token`, its realm the test's token service (tests/registryutil.TokenServer), which takes
the POST `grant_type=refresh_token` for the tokens it knows, gives a refresh token to a login that asks for one
(`offline_token=true`, as docker login does), and may rotate the refresh token at each grant.

The token comes from a real credential helper on PATH (`"Username": "<token>"`) or from config.json's
`identitytoken`; the pull spends it through the refresh grant only (no GET with basic auth reaches the token
service), a wrong one fails in one line naming the registry, and a basic-auth registry refuses it by name.
`svc login` (a real node daemon) keeps the refresh token the token service gives instead of the password, in
config.json or the helper; a rotated one is written back where it was read (the CLI's file, the node's).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator

import pytest
from helpers import run_cli
from registryutil import Registry, TokenServer, oci_archive, write_htpasswd

from node.engine.images import ImageStore
from node.engine.registry import pull
from svc.registry import settings

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
]

# A credential helper answering `get` with an identity token for every server, as docker-credential-helpers do.
HELPER = """#!{python}
import json, sys
server = sys.stdin.read()
if sys.argv[1] != "get":
    print("unsupported"); sys.exit(1)
print(json.dumps({{"ServerURL": server, "Username": "<token>", "Secret": {token!r}}}))
"""


@pytest.fixture
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, TokenServer]]:
    base = str(tmp_path_factory.mktemp("token-registry"))
    tokens = TokenServer(base)
    reg = Registry(base, token=tokens.registry_config())
    try:
        yield reg, tokens
    finally:
        reg.stop()
        tokens.stop()


def _docker_config(tmp_path, monkeypatch, doc) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "docker"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(doc))
    monkeypatch.setenv("DOCKER_CONFIG", str(d))


def _helper(tmp_path, monkeypatch, token: str) -> None:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    prog = bin_dir / "docker-credential-oidc"
    prog.write_text(HELPER.format(python=sys.executable, token=token))
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def _push(reg: Registry, tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    reg.push(f"oci-archive:{oci_archive(tmp_path, f'idtoken-{uuid.uuid4().hex}')}", name)


def test_a_helper_s_identity_token_pulls_through_the_refresh_grant(token_registry, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg, tokens = token_registry
    _push(reg, tmp_path, "team/app:1")
    tokens.refresh_tokens.add("rt-helper")
    _helper(tmp_path, monkeypatch, "rt-helper")
    _docker_config(tmp_path, monkeypatch, {"credsStore": "oidc"})
    tokens.asked.clear()
    store = ImageStore(str(tmp_path / "store"))
    record = pull.pull(store, f"{reg.host}/team/app:1", settings.RegistrySettings(insecure=(reg.host,)))
    assert record.tags == (f"{reg.host}/team/app:1",)
    assert tokens.asked == []  # no GET: the token never travelled as basic auth
    assert tokens.posted == [
        {
            "grant_type": ["refresh_token"],
            "refresh_token": ["rt-helper"],
            "client_id": ["svc"],
            "service": ["svc-test-registry"],
            "scope": ["repository:team/app:pull"],
        }
    ]  # one token serves the manifest, the config and the layers


def test_config_json_identitytoken_pulls_through_the_refresh_grant(token_registry, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg, tokens = token_registry
    _push(reg, tmp_path, "team/web:1")
    tokens.refresh_tokens.add("rt-file")
    password = base64.b64encode(b"alice:not-used").decode()
    _docker_config(tmp_path, monkeypatch, {"auths": {reg.host: {"auth": password, "identitytoken": "rt-file"}}})
    tokens.asked.clear()
    store = ImageStore(str(tmp_path / "store"))
    record = pull.pull(store, f"{reg.host}/team/web:1", settings.RegistrySettings(insecure=(reg.host,)))
    assert record.tags == (f"{reg.host}/team/web:1",)
    assert tokens.asked == [] and [f["refresh_token"] for f in tokens.posted] == [["rt-file"]]


def test_a_wrong_identity_token_is_one_line_naming_the_registry(token_registry, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg, tokens = token_registry
    _push(reg, tmp_path, "team/app:2")
    tokens.refresh_tokens.add("rt-right")
    _helper(tmp_path, monkeypatch, "rt-wrong")
    _docker_config(tmp_path, monkeypatch, {"credsStore": "oidc"})
    store = ImageStore(str(tmp_path / "store"))
    with pytest.raises(Exception) as err:
        pull.pull(store, f"{reg.host}/team/app:2", settings.RegistrySettings(insecure=(reg.host,)))
    text = str(err.value)
    assert text == (
        f"pulling {reg.host}/team/app:2: registry {reg.host}: its token service refused the identity token:"
        " invalid_grant: unknown refresh token"
    ), text
    assert store.records() == [] and not os.listdir(os.path.join(store.root, "blobs", "sha256"))


def test_a_basic_auth_registry_refuses_an_identity_token_by_name(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(str(tmp_path), htpasswd=write_htpasswd(str(tmp_path / "htpasswd"), "alice", "pw"))
    try:
        _docker_config(tmp_path, monkeypatch, {"auths": {reg.host: {"identitytoken": "rt-x"}}})
        store = ImageStore(str(tmp_path / "store"))
        with pytest.raises(Exception) as err:
            pull.pull(store, f"{reg.host}/team/app:1", settings.RegistrySettings(insecure=(reg.host,)))
        text = str(err.value)
        assert "\n" not in text and f"registry {reg.host} asks for basic auth" in text, text
        assert "which an identity token cannot do" in text, text
    finally:
        reg.stop()


# A helper that keeps what `store` gives it (a JSON file beside it), as a keychain does.
KEEPING_HELPER = """#!{python}
import json, os, sys
db = {db!r}
keep = json.load(open(db)) if os.path.exists(db) else {{}}
action, data = sys.argv[1], sys.stdin.read()
if action == "get":
    if data not in keep:
        print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps({{"ServerURL": data, "Username": keep[data][0], "Secret": keep[data][1]}}))
elif action == "store":
    doc = json.loads(data); keep[doc["ServerURL"]] = [doc["Username"], doc["Secret"]]
    json.dump(keep, open(db, "w"))
else:
    print("unsupported"); sys.exit(1)
"""


def _keeping_helper(tmp_path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    db = str(tmp_path / "keychain.json")
    prog = bin_dir / "docker-credential-keychain"
    prog.write_text(KEEPING_HELPER.format(python=sys.executable, db=db))
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return db


def _insecure(engine_env, host: str) -> None:  # type: ignore[no-untyped-def]
    with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
        json.dump({"insecure-registries": [host]}, f)


def test_svc_login_keeps_the_token_service_s_refresh_token_not_the_password(  # type: ignore[no-untyped-def]
    node_daemon, engine_env, token_registry, tmp_path
) -> None:
    """docker login's way: the login asks the token service for a refresh token (`offline_token=true`) and
    keeps it as `identitytoken`, not the password; a pull spends it through the refresh grant, and a token
    service that rotates it has the new one written back to the CLI's config.json."""
    reg, tokens = token_registry
    _, env = node_daemon
    _insecure(engine_env, reg.host)
    _push(reg, tmp_path, "team/app:1")
    tokens.logins["alice"] = "s3cret-pw"
    env = {**env, "DOCKER_CONFIG": str(tmp_path / "docker")}
    ok = run_cli("login", reg.host, "-u", "alice", "--password-stdin", env=env, input=b"s3cret-pw\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    config = tmp_path / "docker" / "config.json"
    assert json.loads(config.read_text())["auths"] == {reg.host: {"identitytoken": tokens.issued[0]}}
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert (
        "s3cret" not in config.read_text() and base64.b64encode(b"alice:s3cret-pw").decode() not in config.read_text()
    )
    (login,) = [q for q in tokens.asked if q.get("offline_token")]
    assert login["client_id"] == ["svc"] and login["account"] == ["alice"]

    tokens.asked.clear()
    tokens.rotate = True  # each grant answers a new refresh token and forgets the one spent
    for _ in range(2):
        r = run_cli("image", "pull", f"{reg.host}/team/app:1", env=env, timeout=120)
        assert r.returncode == 0, r.stderr
    assert tokens.asked == []  # never the password, never basic auth
    assert [f["refresh_token"] for f in tokens.posted] == [[tokens.issued[0]], [tokens.issued[1]]]
    assert json.loads(config.read_text())["auths"] == {reg.host: {"identitytoken": tokens.issued[2]}}


def test_svc_login_with_a_helper_keeps_the_refresh_token_in_it(  # type: ignore[no-untyped-def]
    node_daemon, engine_env, token_registry, tmp_path, monkeypatch
) -> None:
    reg, tokens = token_registry
    _, env = node_daemon
    _insecure(engine_env, reg.host)
    db = _keeping_helper(tmp_path, monkeypatch)
    _docker_config(tmp_path, monkeypatch, {"credsStore": "keychain"})
    tokens.logins["bob"] = "pw-of-bob"
    env = {**env, "DOCKER_CONFIG": str(tmp_path / "docker"), "PATH": os.environ["PATH"]}
    ok = run_cli("login", reg.host, "-u", "bob", "--password-stdin", env=env, input=b"pw-of-bob\n")
    assert ok.returncode == 0 and "docker-credential-keychain" in ok.stdout, ok.stderr
    assert json.loads(open(db).read()) == {reg.host: ["<token>", tokens.issued[0]]}
    assert json.loads((tmp_path / "docker" / "config.json").read_text())["auths"] == {reg.host: {}}


def test_a_rotated_refresh_token_is_written_back_where_the_pull_read_it(  # type: ignore[no-untyped-def]
    token_registry, tmp_path, monkeypatch
) -> None:
    """A node's own pull (its config files, or the helper they name): the token the grant rotates in
    replaces the one spent there, so the next pull spends the new one (the old one is forgotten)."""
    reg, tokens = token_registry
    _push(reg, tmp_path, "team/app:3")
    tokens.refresh_tokens.add("rt-0")
    tokens.rotate = True
    _docker_config(tmp_path, monkeypatch, {"auths": {reg.host: {"identitytoken": "rt-0", "email": "kept@x"}}})
    config = tmp_path / "docker" / "config.json"
    for n in range(2):
        store = ImageStore(str(tmp_path / f"store{n}"))
        pull.pull(store, f"{reg.host}/team/app:3", settings.RegistrySettings(insecure=(reg.host,)))
    assert [f["refresh_token"] for f in tokens.posted] == [["rt-0"], [tokens.issued[0]]]
    entry = json.loads(config.read_text())["auths"][reg.host]
    assert entry == {"identitytoken": tokens.issued[1], "email": "kept@x"}

    db = _keeping_helper(tmp_path, monkeypatch)  # the same through a helper
    with open(db, "w") as f:
        json.dump({reg.host: ["<token>", tokens.issued[1]]}, f)
    _docker_config(tmp_path, monkeypatch, {"credsStore": "keychain"})
    tokens.posted.clear()
    pull.pull(
        ImageStore(str(tmp_path / "store-h")), f"{reg.host}/team/app:3", settings.RegistrySettings(insecure=(reg.host,))
    )
    assert [f["refresh_token"] for f in tokens.posted] == [[tokens.issued[1]]]
    assert json.loads(open(db).read()) == {reg.host: ["<token>", tokens.issued[2]]}
