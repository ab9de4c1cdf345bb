"""`svc image pull` against a real registry: the CNCF distribution registry (Debian's docker-registry) on
loopback, plain HTTP, listed in the node's insecure-registries; images pushed into it with skopeo.

Every test image carries a marker file of its own, so its layer digests are new to the registry and to
skopeo's blob cache (skopeo would otherwise substitute a compressed variant it pushed before).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from helpers import free_port, run_cli
from registryutil import Registry, TokenServer, oci_archive, run_marker, write_htpasswd, write_multiarch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (shutil.which("docker-registry") and shutil.which("skopeo")),
        reason="needs docker-registry and skopeo (deploy/test.sh installs them)",
    ),
]


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(str(tmp_path_factory.mktemp("registry")))
    yield reg
    reg.stop()


@pytest.fixture
def node(node_daemon, engine_env, registry):  # type: ignore[no-untyped-def]
    """The node daemon, told that the test registry speaks plain HTTP."""
    _, env = node_daemon
    with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
        json.dump({"insecure-registries": [registry.host]}, f)
    return env


def store_files(engine_env) -> set[str]:  # type: ignore[no-untyped-def]
    root = os.path.join(engine_env.data_dir, "node", "images")
    out = set()
    for sub in ("blobs/sha256", "layers", "tmp"):
        d = os.path.join(root, sub)
        out |= {f"{sub}/{n}" for n in os.listdir(d)} if os.path.isdir(d) else set()
    return out


def test_pull_by_tag_shows_layer_progress_then_runs(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"tag-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "busybox:1")
    image = f"{registry.host}/busybox:1"
    r = run_cli("image", "pull", image, env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"1: Pulling from {registry.host}/busybox", r.stdout
    layer_lines = [ln for ln in lines if ln.endswith(": Pull complete")]
    assert len(layer_lines) == 1, r.stdout
    layer = layer_lines[0].split(":")[0]
    assert f"{layer}: Pulling fs layer" in lines and f"{layer}: Downloading" in lines
    assert any(ln.startswith("Digest: sha256:") for ln in lines)
    assert lines[-1] == f"Status: Downloaded {image}"
    ls = run_cli("image", "ls", env=node).stdout
    assert f"{registry.host}/busybox" in ls and " 1 " in ls
    assert run_marker(node, image) == marker
    # A second pull finds the layer present and downloads nothing.
    again = run_cli("image", "pull", image, env=node, timeout=60)
    assert again.returncode == 0 and f"{layer}: Already exists" in again.stdout, again.stdout


def test_container_run_pulls_a_missing_image_as_docker_run_does(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"run-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "runme:1")
    image = f"{registry.host}/runme:1"
    never = run_cli("container", "run", "--rm", "--pull", "never", image, "true", env=node)
    assert never.returncode != 0 and f"no such image: {image}" in never.stderr, never.stderr
    r = run_cli("container", "run", "--rm", image, "cat", "/marker", env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == marker  # the container's output alone: the pull's display went to stderr
    assert f"Unable to find image '{image}' locally" in r.stderr and "Pull complete" in r.stderr
    again = run_cli("container", "run", "--rm", image, "cat", "/marker", env=node)
    assert again.returncode == 0 and "Unable to find" not in again.stderr  # present now: no pull


def test_pull_by_digest(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"digest-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "pinned:v1")
    digest = registry.digest("pinned:v1")
    image = f"{registry.host}/pinned@{digest}"
    r = run_cli("image", "pull", "-q", image, env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:")
    assert run_marker(node, image) == marker
    # Pulled by digest only: no tag was made.
    assert "pinned" not in run_cli("image", "ls", env=node).stdout.replace("<none>", "")
    # ...but `ls --digests` shows the digest it was pulled by.
    rows = run_cli("image", "ls", "--digests", env=node).stdout.splitlines()
    assert rows[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    assert any(r.split()[:3] == [f"{registry.host}/pinned", "<none>", digest] for r in rows), rows


def test_zstd_layer(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"zstd-{uuid.uuid4().hex}"
    src = oci_archive(tmp_path, marker, gzip_layers=False)
    registry.push(f"oci-archive:{src}", "zstd:1", "--dest-compress", "--dest-compress-format", "zstd")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/zstd:1"],
        capture_output=True,
        check=True,
    ).stdout
    assert json.loads(raw)["layers"][0]["mediaType"].endswith("+zstd")
    r = run_cli("image", "pull", f"{registry.host}/zstd:1", env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    assert run_marker(node, f"{registry.host}/zstd:1") == marker


def test_index_picks_the_host_platform(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"multi-{uuid.uuid4().hex}"
    src = str(tmp_path / "multi.tar")
    write_multiarch(src, marker)
    registry.push(f"oci-archive:{src}:multi", "multi:1", "--all")
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/multi:1"],
        capture_output=True,
        check=True,
    ).stdout
    assert len(json.loads(raw)["manifests"]) == 3
    r = run_cli("image", "pull", f"{registry.host}/multi:1", env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    assert run_marker(node, f"{registry.host}/multi:1") == marker
    # Another platform by request; it is not runnable here, but it is stored and its config says arm64.
    r = run_cli("image", "pull", "--platform", "linux/arm64", f"{registry.host}/multi:1", env=node, timeout=60)
    if r.returncode == 0:
        info = json.loads(run_cli("image", "inspect", f"{registry.host}/multi:1", env=node).stdout)[0]
        assert info["architecture"] == "arm64"
    # A platform the index lacks: one line naming what it has.
    bad = run_cli("image", "pull", "--platform", "linux/s390x", f"{registry.host}/multi:1", env=node, timeout=60)
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "no manifest for linux/s390x" in bad.stderr and "linux/arm/v7" in bad.stderr, bad.stderr


def test_corrupted_blob_is_refused_and_leaves_nothing(node, registry, engine_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"bad-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "bad:1")
    manifest = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/bad:1"],
            capture_output=True,
            check=True,
        ).stdout
    )
    layer = manifest["layers"][0]["digest"]
    path = registry.blob_file(layer)
    with open(path, "r+b") as f:  # flip one byte in the middle: same size, wrong digest
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    before = store_files(engine_env)
    r = run_cli("image", "pull", f"{registry.host}/bad:1", env=node, timeout=120)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"blob {layer} does not match its digest" in r.stderr, r.stderr
    assert f"pulling {registry.host}/bad:1" in r.stderr
    assert "Traceback" not in r.stderr
    assert store_files(engine_env) == before
    assert "bad" not in run_cli("image", "ls", env=node).stdout


def test_unknown_tag_is_one_line(node, registry) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("image", "pull", f"{registry.host}/nothing:here", env=node, timeout=60)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "manifest unknown" in r.stderr and f"{registry.host}/nothing:here" in r.stderr, r.stderr


def test_plain_http_only_to_a_listed_registry(node_daemon, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, env = node_daemon  # no registries.json: the registry is not listed as insecure
    registry.push(f"oci-archive:{oci_archive(tmp_path, f'tls-{uuid.uuid4().hex}')}", "tls:1")
    start = time.monotonic()
    r = run_cli("image", "pull", f"{registry.host}/tls:1", env=env, timeout=60)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "insecure-registries" in r.stderr, r.stderr
    assert time.monotonic() - start < 30


def test_basic_auth_login_pull_logout(node_daemon, engine_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    htpasswd = write_htpasswd(str(tmp_path / "htpasswd"), "alice", "s3cret")
    reg = Registry(str(tmp_path), htpasswd=htpasswd)
    try:
        reg.push_flags = ("--dest-creds", "alice:s3cret")
        _, env = node_daemon
        with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
            json.dump({"insecure-registries": [reg.host]}, f)
        env = {**env, "DOCKER_CONFIG": str(tmp_path / "docker")}
        marker = f"auth-{uuid.uuid4().hex}"
        reg.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "private:1")
        image = f"{reg.host}/private:1"

        denied = run_cli("image", "pull", image, env=env, timeout=60)
        assert denied.returncode != 0
        assert len(denied.stderr.strip().splitlines()) == 1, denied.stderr
        assert f"pulling {image}: registry {reg.host} needs a login" in denied.stderr, denied.stderr

        wrong = run_cli("login", reg.host, "-u", "alice", "--password-stdin", env=env, input=b"nope\n")
        assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
        assert f"login to {reg.host}: credentials refused" in wrong.stderr, wrong.stderr
        config = tmp_path / "docker" / "config.json"
        assert not config.exists()

        ok = run_cli("login", reg.host, "-u", "alice", "--password-stdin", env=env, input=b"s3cret\n")
        assert ok.returncode == 0, ok.stderr
        assert "Login Succeeded" in ok.stdout
        assert os.stat(config).st_mode & 0o777 == 0o600
        assert reg.host in json.loads(config.read_text())["auths"]
        assert "s3cret" not in config.read_text()  # base64, as Docker keeps it; never in plain text

        r = run_cli("image", "pull", image, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        assert run_marker(env, image) == marker

        out = run_cli("logout", reg.host, env=env)
        assert out.returncode == 0 and f"Removing login credentials for {reg.host}" in out.stdout
        assert reg.host not in json.loads(config.read_text())["auths"]
        again = run_cli("logout", reg.host, env=env)
        assert again.returncode != 0 and f"not logged in to {reg.host}" in again.stderr
        assert run_cli("image", "pull", image, env=env, timeout=60).returncode != 0
    finally:
        reg.stop()


class TamperingProxy:
    """An HTTP proxy in front of the registry that spoils one kind of answer, as a bad registry or network would."""

    def __init__(self, upstream: str, mode: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, method: str) -> None:
                conn = http.client.HTTPConnection(upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(method, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                out_headers = {k: v for k, v in resp.getheaders() if k.lower() not in ("content-length", "connection")}
                is_blob = "/blobs/sha256:" in self.path and resp.status == 200
                is_manifest = "/manifests/" in self.path and resp.status == 200
                if is_blob and len(body) > 1000 and mode == "truncate":
                    body = body[: len(body) // 2]
                elif is_blob and len(body) > 1000 and mode == "oversize":
                    body = body + b"\0" * 100_000
                elif is_manifest and mode == "manifest":
                    body = body + b" "  # still JSON, but not the bytes Docker-Content-Digest names
                self.send_response(resp.status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)
                proxy.requests.append(self.path)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_HEAD(self) -> None:
                self._forward("HEAD")

        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _store_listing(root: str) -> set[str]:
    out = set()
    for sub in ("blobs/sha256", "layers", "tmp"):
        out |= {f"{sub}/{n}" for n in os.listdir(os.path.join(root, sub))}
    return out


@pytest.mark.parametrize("reads", ["through-h11", "off-the-socket"])
@pytest.mark.parametrize(
    "mode, message",
    [
        ("truncate", "is truncated"),
        ("oversize", "is larger than its descriptor's"),
        ("manifest", "Docker-Content-Digest sha256:"),
    ],
)
def test_a_tampering_registry_is_refused(registry, tmp_path, monkeypatch, mode: str, message: str, reads: str) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import body, settings

    # every blob through h11, or every blob of 1000 bytes or more read off the socket (body.py)
    monkeypatch.setattr(body, "DIRECT_FROM", 1000 if reads == "off-the-socket" else 1 << 62)

    registry.push(f"oci-archive:{oci_archive(tmp_path, f'{mode}-{uuid.uuid4().hex}')}", "spoilt:1")
    proxy = TamperingProxy(registry.host, mode)
    try:
        store = ImageStore(str(tmp_path / "store"))
        before = _store_listing(store.root)
        cfg = settings.RegistrySettings(insecure=(proxy.host,))
        with pytest.raises(Exception) as err:
            pull.pull(store, f"{proxy.host}/spoilt:1", cfg)
        text = str(err.value)
        assert text.startswith(f"pulling {proxy.host}/spoilt:1: ") and message in text, text
        assert "\n" not in text
        assert _store_listing(store.root) == before
        assert store.records() == []
    finally:
        proxy.stop()


def test_registry_mirror_serves_docker_hub_names(registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`busybox:1` is Docker Hub's library/busybox; a mirror that has it answers, and Docker Hub is not asked."""
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import settings

    marker = f"mirror-{uuid.uuid4().hex}"
    registry.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "library/busybox:1")
    proxy = TamperingProxy(registry.host, "none")
    try:
        store = ImageStore(str(tmp_path / "store"))
        cfg = settings.RegistrySettings(mirrors=(f"http://{proxy.host}",))
        record = pull.pull(store, "busybox:1", cfg)
        assert record.tags == ("busybox:1",)
        assert any(p.startswith("/v2/library/busybox/manifests/1") for p in proxy.requests)
        assert store.resolve("busybox:1").id == record.id
        assert store.resolve(record.repo_digests[0]).id == record.id
        assert record.repo_digests[0].startswith("busybox@sha256:")
    finally:
        proxy.stop()


def test_anonymous_bearer_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The registry answers 401 with a Bearer challenge; the client fetches a token for the scope and retries."""
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import settings

    tokens = TokenServer(str(tmp_path))
    reg = Registry(str(tmp_path), token=tokens.registry_config())
    try:
        marker = f"token-{uuid.uuid4().hex}"
        reg.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "team/app:1")
        tokens.asked.clear()
        store = ImageStore(str(tmp_path / "store"))
        record = pull.pull(store, f"{reg.host}/team/app:1", settings.RegistrySettings(insecure=(reg.host,)))
        assert record.tags == (f"{reg.host}/team/app:1",)
        assert tokens.asked, "no token was asked for"
        assert tokens.asked[0]["scope"] == ["repository:team/app:pull"]
        assert tokens.asked[0]["service"] == ["svc-test-registry"]
        assert len(tokens.asked) == 1  # one token serves the manifest, the config and the layers
    finally:
        reg.stop()
        tokens.stop()


def _test_ca(base: str) -> tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc test registry CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tuple(os.path.join(base, n) for n in ("ca.crt", "server.crt", "server.key"))
    for path, data in zip(
        paths,
        (
            ca.public_bytes(serialization.Encoding.PEM),
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
        strict=True,
    ):
        with open(path, "wb") as f:
            f.write(data)
    return paths  # type: ignore[return-value]


def test_tls_with_a_private_ca_in_certs_d(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import settings

    ca, cert, key = _test_ca(str(tmp_path))
    reg = Registry(str(tmp_path), tls=f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    try:
        marker = f"tls-{uuid.uuid4().hex}"
        reg.push(f"oci-archive:{oci_archive(tmp_path, marker)}", "secure:1")
        store = ImageStore(str(tmp_path / "store"))
        node_dir = tmp_path / "node"
        node_dir.mkdir()
        (node_dir / "registries.json").write_text("{}")
        cfg = settings.load(str(node_dir / "registries.json"))
        with pytest.raises(Exception, match=rf"needs it in certs.d/{reg.host}/ca.crt"):
            pull.pull(store, f"{reg.host}/secure:1", cfg)
        (node_dir / "certs.d" / reg.host).mkdir(parents=True)
        shutil.copy(ca, node_dir / "certs.d" / reg.host / "ca.crt")
        record = pull.pull(store, f"{reg.host}/secure:1", cfg)
        assert record.tags == (f"{reg.host}/secure:1",)
    finally:
        reg.stop()


def test_registry_down_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.errors import Unavailable
    from svc.registry import settings

    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = ImageStore(str(tmp_path / "store"))
    with pytest.raises(Unavailable) as err:
        pull.pull(store, f"{host}/app:1", settings.RegistrySettings(insecure=(host,)))
    assert str(err.value).startswith(f"pulling {host}/app:1: registry {host} unreachable: "), err.value
    assert "\n" not in str(err.value)


def test_a_full_disk_during_a_pull_leaves_nothing(registry, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """ENOSPC while a layer is written: one line, and the store as it was."""
    import errno

    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import client, settings

    registry.push(f"oci-archive:{oci_archive(tmp_path, f'full-{uuid.uuid4().hex}')}", "full:1")
    store = ImageStore(str(tmp_path / "store"))
    before = _store_listing(store.root)
    real = client.Endpoint.blob

    def blob(self, repo, digest, size, out, progress=None):  # type: ignore[no-untyped-def]
        if size > 100_000:  # the layer, not the config
            out.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), out.name)
        return real(self, repo, digest, size, out, progress)

    monkeypatch.setattr(client.Endpoint, "blob", blob)
    with pytest.raises(Exception) as err:
        pull.pull(store, f"{registry.host}/full:1", settings.RegistrySettings(insecure=(registry.host,)))
    assert str(err.value).startswith(f"pulling {registry.host}/full:1: No space left on device"), err.value
    assert _store_listing(store.root) == before
    assert store.records() == []
