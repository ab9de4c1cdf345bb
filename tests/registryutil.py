"""The real registry the registry tests run against, and what they put in it: Debian's docker-registry (CNCF
distribution) on loopback with its own config and storage, optionally with htpasswd, token auth or TLS;
skopeo to fill and read it; a token service like auth.docker.io; test images with a marker file of their own.
Shared by the tests that need a registry (pull, push, services pinning digests).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
import uuid
from typing import Any

from helpers import free_port, poll, run_cli
from imagebuild import Entry, ImageSpec, busybox_entries, sha256, tar_bytes, write_oci_layout

from svc.registry.platforms import host_platform


def write_htpasswd(path: str, user: str, password: str) -> str:
    """An htpasswd file (bcrypt, as the registry reads it) with one user."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # libxcrypt's bcrypt

    with open(path, "w") as f:
        f.write(f"{user}:" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)) + "\n")
    return path


class Registry:
    def __init__(self, base: str, htpasswd: str = "", token: str = "", tls: str = "") -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = os.path.join(base, "storage")
        self.config = os.path.join(base, "registry.yml")
        with open(self.config, "w") as f:
            f.write(
                "version: 0.1\nlog:\n  level: warn\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                f"http:\n  addr: {self.host}\n"
            )
            if tls:
                f.write(tls)
            if token:
                f.write(token)
            if htpasswd:
                f.write(f"auth:\n  htpasswd:\n    realm: svc-test\n    path: {htpasswd}\n")
        self.log = open(os.path.join(base, "registry.log"), "wb")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", self.config], stdout=self.log, stderr=subprocess.STDOUT
        )

        def up() -> bool:
            import socket

            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        poll(up, 10, what="docker-registry to listen")
        self.push_flags: tuple[str, ...] = ()

    def push(self, source: str, name: str, *flags: str) -> None:
        flags = (*flags, *self.push_flags)
        r = subprocess.run(
            [
                "skopeo",
                "copy",
                "--retry-times",
                "0",
                "--dest-tls-verify=false",
                *flags,
                source,
                f"docker://{self.host}/{name}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr

    def digest(self, name: str) -> str:
        r = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{self.host}/{name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def blob_file(self, digest: str) -> str:
        hexd = digest[7:]
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd, "data")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def unique_spec(marker: str, extra: list[Entry] | None = None) -> ImageSpec:
    return ImageSpec(layers=[[*busybox_entries(), Entry("marker", marker.encode()), *(extra or [])]], tag="x:1")


def oci_archive(tmp_path, marker: str, gzip_layers: bool = True) -> str:  # type: ignore[no-untyped-def]
    return write_oci_layout(str(tmp_path / f"{marker}.tar"), unique_spec(marker), gzip_layers=gzip_layers)


def run_marker(env, image: str) -> str:  # type: ignore[no-untyped-def]
    r = run_cli("container", "run", "--rm", "--name", f"m{uuid.uuid4().hex[:8]}", image, "cat", "/marker", env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def write_multiarch(path: str, host_marker: str) -> None:
    """An OCI layout with an index of three manifests: this host's (busybox), linux/arm64 and linux/arm/v7."""
    host = host_platform()
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> dict[str, Any]:
        blobs[sha256(data)] = data
        return {"digest": sha256(data), "size": len(data)}

    def image(arch: str, variant: str, entries: list[Entry]) -> dict[str, Any]:
        layer = tar_bytes(entries)
        gz = gzip.compress(layer, mtime=0)
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                **({"variant": variant} if variant else {}),
                "config": {"Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **add(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **add(gz)}],
            }
        ).encode()
        platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json", **add(manifest), "platform": platform}

    entries = [
        image("arm64", "v8", [Entry("marker", b"arm64")]),
        image("arm", "v7", [Entry("marker", b"arm/v7")]),
    ]
    if host.architecture in ("arm64", "arm"):
        entries = [e for e in entries if e["platform"]["architecture"] != host.architecture]
    entries.insert(
        1,
        image(host.architecture, host.variant, [*busybox_entries(), Entry("marker", host_marker.encode())]),
    )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    ).encode()
    top = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        **add(index),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }
    files = [
        Entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        Entry("index.json", json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()),
        Entry("blobs", kind="dir", mode=0o755),
        Entry("blobs/sha256", kind="dir", mode=0o755),
        *[Entry("blobs/sha256/" + d[7:], b) for d, b in blobs.items()],
    ]
    with open(path, "wb") as f:
        f.write(tar_bytes(files))


class TokenServer:
    """A token service as Docker Hub's auth.docker.io: anyone gets a token (RS256, x5c) for what they ask by
    GET; a POST refresh_token grant gets one only for an identity token in `refresh_tokens`."""

    def __init__(self, base: str) -> None:
        import base64
        import datetime
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc-test-token-issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert_path = os.path.join(base, "token-ca.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        server = self
        self.asked: list[dict[str, list[str]]] = []
        self.refresh_tokens: set[str] = set()  # identity tokens the POST refresh_token grant takes
        self.posted: list[dict[str, list[str]]] = []  # the forms of those POSTs
        # user -> password: a GET with offline_token=true by one of these gets a refresh token (docker login)
        self.logins: dict[str, str] = {}
        self.issued: list[str] = []  # the refresh tokens given so (at login, or rotated in)
        self.rotate = False  # a refresh grant answers a new refresh token and forgets the one spent

        def token(service: str, scopes: list[str]) -> str:
            access = []
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                repo, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
            t = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
            claims = {
                "iss": "svc-test-issuer",
                "sub": "",
                "aud": service,
                "exp": t + 300,
                "nbf": t - 10,
                "iat": t,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
            signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
            sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{signing}.{b64(sig)}"

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, code: int, doc: dict[str, object]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                q = parse_qs(urlparse(self.path).query)
                server.asked.append(q)
                doc: dict[str, object] = {
                    "token": token(q.get("service", [""])[0], q.get("scope", [])),
                    "expires_in": 300,
                }
                if q.get("offline_token") == ["true"]:  # docker login's ask: a refresh token for a known login
                    user, _, password = (
                        base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1] or b"")
                        .decode()
                        .partition(":")
                    )
                    if server.logins.get(user) == password:
                        doc["refresh_token"] = server._new_refresh()
                self._answer(200, doc)

            def do_POST(self) -> None:
                """The OAuth2 refresh-token grant (distribution's oauth.md): a form, answered with access_token."""
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                server.posted.append(form)
                if form.get("grant_type") != ["refresh_token"]:
                    return self._answer(400, {"error": "unsupported_grant_type"})
                if form.get("refresh_token", [""])[0] not in server.refresh_tokens:
                    return self._answer(400, {"error": "invalid_grant", "error_description": "unknown refresh token"})
                scopes = " ".join(form.get("scope", [])).split()
                doc = {"access_token": token(form.get("service", [""])[0], scopes), "expires_in": 300}
                if server.rotate:
                    server.refresh_tokens.discard(form["refresh_token"][0])
                    doc["refresh_token"] = server._new_refresh()
                return self._answer(200, {**doc, "scope": " ".join(scopes)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _new_refresh(self) -> str:
        rt = f"rt-{uuid.uuid4().hex}"
        self.refresh_tokens.add(rt)
        self.issued.append(rt)
        return rt

    def registry_config(self) -> str:
        return (
            "auth:\n  token:\n"
            f"    realm: {self.realm}\n    service: svc-test-registry\n    issuer: svc-test-issuer\n"
            f"    rootcertbundle: {self.cert_path}\n"
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
