"""Identity tokens (Docker's OAuth2 refresh tokens) against a real token-auth registry: the CNCF distribution
registry with `auth: token`, its realm the test's token service (tests/registryutil.TokenServer), which takes
the POST `grant_type=refresh_token` for the tokens it knows.

The token comes from a real credential helper on PATH (`"Username": "<token>"`) or from config.json's
`identitytoken`; the pull spends it through the refresh grant only (no GET with basic auth reaches the token
service), a wrong one fails in one line naming the registry, and a basic-auth registry refuses it by name.
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
