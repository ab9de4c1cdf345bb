"""The registry client's pure parts: references, platforms, auth challenges, settings."""

from __future__ import annotations

import base64
import json

import pytest

from svc import registryref as refs
from svc.errors import InvalidArgument, NotFound
from svc.registry import auth, platforms, settings

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, registry, repo, tag, digest, name",
    [
        ("busybox", "docker.io", "library/busybox", "latest", "", "busybox"),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", "", "busybox"),
        ("docker.io/library/busybox", "docker.io", "library/busybox", "latest", "", "busybox"),
        ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", "", "busybox"),
        ("team/app:v2", "docker.io", "team/app", "v2", "", "docker.io/team/app"),
        ("localhost/app", "localhost", "app", "latest", "", "localhost/app"),
        ("127.0.0.1:5000/busybox:1", "127.0.0.1:5000", "busybox", "1", "", "127.0.0.1:5000/busybox"),
        ("ghcr.io/a/b/c", "ghcr.io", "a/b/c", "latest", "", "ghcr.io/a/b/c"),
        (f"busybox@{D}", "docker.io", "library/busybox", "", D, "busybox"),
        (f"reg:5000/app:1@{D}", "reg:5000", "app", "1", D, "reg:5000/app"),
    ],
)
def test_references_normalise_as_docker_does(text, registry, repo, tag, digest, name) -> None:  # type: ignore[no-untyped-def]
    r = refs.parse(text)
    assert (r.registry, r.repository, r.tag, r.digest, r.name) == (registry, repo, tag, digest, name)
    assert r.reference == (digest or tag)


def test_docker_hub_api_host_and_store_tags() -> None:
    assert refs.parse("busybox").api_host() == "registry-1.docker.io"
    assert refs.parse("busybox").tagged() == "busybox:latest"
    assert refs.parse(f"busybox@{D}").tagged() == ""
    assert str(refs.parse("127.0.0.1:5000/x:1")) == "127.0.0.1:5000/x:1"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "invalid image reference"),
        ("Busybox", "lowercase"),
        ("busybox:bad/tag", "bad registry host"),
        ("busybox:-x", "bad tag"),
        ("busybox@sha256:123", "bad digest"),
        ("busybox@md5:" + "a" * 32, "bad digest"),
        ("a//b", "lowercase"),
        (" busybox", "invalid image reference"),
    ],
)
def test_bad_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        refs.parse(text)


@pytest.mark.parametrize(
    "machine, pointer, want",
    [
        ("x86_64", 8, "linux/amd64"),
        ("aarch64", 8, "linux/arm64"),
        ("aarch64", 4, "linux/arm/v7"),  # 32-bit Raspberry Pi OS on a 64-bit kernel
        ("armv7l", 4, "linux/arm/v7"),
        ("armv6l", 4, "linux/arm/v6"),
    ],
)
def test_host_platform_is_the_userlands(machine: str, pointer: int, want: str) -> None:
    assert str(platforms.host_platform(machine, pointer)) == want


def _entry(arch: str, variant: str = "", os_: str = "linux") -> dict:
    p = {"os": os_, "architecture": arch}
    if variant:
        p["variant"] = variant
    return {"digest": f"{arch}{variant}", "platform": p}


INDEX = [
    _entry("amd64"),
    _entry("arm64", "v8"),
    _entry("arm", "v7"),
    _entry("arm", "v6"),
    _entry("amd64", os_="windows"),
]


@pytest.mark.parametrize(
    "want, picked",
    [
        ("linux/amd64", "amd64"),
        ("linux/arm64", "arm64v8"),
        ("linux/aarch64", "arm64v8"),
        ("linux/arm/v7", "armv7"),
        ("linux/armhf", "armv7"),
        ("linux/arm/v6", "armv6"),
        ("linux/arm/v8", "armv7"),
    ],
)
def test_platform_choice(want: str, picked: str) -> None:
    assert platforms.choose(INDEX, platforms.parse(want))["digest"] == picked


def test_platform_fallbacks_and_refusals() -> None:
    only_v6 = [_entry("arm", "v6")]
    assert platforms.choose(only_v6, platforms.parse("linux/arm/v7"))["digest"] == "armv6"
    # arm64 falls back to 32-bit arm when nothing 64-bit is offered
    assert platforms.choose(only_v6, platforms.parse("linux/arm64"))["digest"] == "armv6"
    # v6 cannot run v7 code
    with pytest.raises(NotFound, match=r"no manifest for linux/arm/v6 \(it has: linux/arm/v7\)"):
        platforms.choose([_entry("arm", "v7")], platforms.parse("linux/arm/v6"))
    with pytest.raises(NotFound, match="linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64, windows/amd64"):
        platforms.choose(INDEX, platforms.parse("linux/s390x"))
    with pytest.raises(InvalidArgument, match="OS/ARCH"):
        platforms.parse("amd64")


def test_bearer_and_basic_challenges() -> None:
    (ch,) = auth.parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert ch.scheme == "bearer"
    assert ch.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }
    (basic,) = auth.parse_challenges('Basic realm="Registry Realm"')
    assert basic == auth.Challenge("basic", {"realm": "Registry Realm"})
    two = auth.parse_challenges('Basic realm="a", Bearer realm="https://t/x",scope="repository:a/b:pull,push"')
    assert [c.scheme for c in two] == ["basic", "bearer"]
    assert two[1].params["scope"] == "repository:a/b:pull,push"
    assert auth.parse_challenges("") == []


def test_credentials_from_a_docker_config(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "auths": {
                    "reg.example:5000": {"auth": base64.b64encode(b"alice:s3cr:t").decode()},
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"bob:pw").decode()},
                }
            }
        )
    )
    assert auth.credentials("reg.example:5000", (str(cfg),)) == ("alice", "s3cr:t")
    assert auth.credentials("registry-1.docker.io", (str(cfg),)) == ("bob", "pw")
    assert auth.credentials("other.example", (str(cfg),)) is None
    assert auth.basic_header("a", "b") == "Basic YTpi"


def test_settings_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert settings.load(str(tmp_path / "missing.json")) == settings.RegistrySettings()
    path = tmp_path / "registries.json"
    path.write_text(
        json.dumps({"insecure-registries": ["http://127.0.0.1:5000"], "registry-mirrors": ["https://m.example/"]})
    )
    s = settings.load(str(path))
    assert s.insecure == ("127.0.0.1:5000",) and s.mirrors == ("https://m.example",)
    assert s.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert s.base_url("127.0.0.1:5001") == "https://127.0.0.1:5001"
    path.write_text(json.dumps({"registry-mirrors": ["m.example"]}))
    with pytest.raises(InvalidArgument, match="needs http:// or https://"):
        settings.load(str(path))
    path.write_text("{")
    with pytest.raises(InvalidArgument, match="not readable JSON"):
        settings.load(str(path))


def test_login_hosts() -> None:
    assert refs.login_host("") == "docker.io"
    assert refs.login_host("https://index.docker.io/v1/") == "docker.io"
    assert refs.login_host("127.0.0.1:5000") == "127.0.0.1:5000"
    assert refs.login_host("https://reg.example/") == "reg.example"
    with pytest.raises(InvalidArgument, match="HOST"):
        refs.login_host("bad host")


def test_docker_config_store_and_erase_keep_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from svc import dockerconfig

    path = tmp_path / "d" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"credsStore": "", "psFormat": "x", "auths": {"other:1": {"auth": "b3RoZXI6cA=="}}}))
    dockerconfig.store("reg:5000", "alice", "pw", str(path))
    dockerconfig.store("docker.io", "bob", "pw2", str(path))
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "x" and "other:1" in doc["auths"]
    assert doc["auths"]["https://index.docker.io/v1/"] == {"auth": base64.b64encode(b"bob:pw2").decode()}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert dockerconfig.credentials("reg:5000", [str(path)]) == ("alice", "pw")
    assert dockerconfig.credentials("registry-1.docker.io", [str(path)]) == ("bob", "pw2")
    assert dockerconfig.erase("reg:5000", str(path)) is True
    assert dockerconfig.erase("reg:5000", str(path)) is False
    assert dockerconfig.credentials("other:1", [str(path)]) == ("other", "p")
