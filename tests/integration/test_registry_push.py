"""`svc image tag` and `svc image push` against a real registry (Debian's docker-registry, CNCF distribution)
on loopback; skopeo, an independent client, reads back what was pushed and checks it.

Every test image carries a marker file of its own, so its blobs are new to the registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import free_port, run_cli
from imagebuild import Entry, ImageSpec, busybox_entries, write_docker_save
from registryutil import Registry, TokenServer, oci_archive, run_marker, write_htpasswd

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
    """The node daemon, told that the test registry speaks plain HTTP; the CLI with a docker config of its own."""
    _, env = node_daemon
    with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
        json.dump({"insecure-registries": [registry.host]}, f)
    return {**env, "DOCKER_CONFIG": os.path.join(engine_env.base, "docker")}


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)


def raw_manifest(host: str, name: str, *flags: str) -> bytes:
    r = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", *flags, f"docker://{host}/{name}"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def pushed_digest(stdout: str, tag: str) -> tuple[str, int]:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith(f"{tag}: digest: sha256:"), stdout
    _, _, digest, _, size = last.split()
    return digest, int(size)


def skopeo_copy_back(host: str, name: str, dest: str, *flags: str) -> dict:
    """skopeo pulls what was pushed into an OCI directory (checking every blob's digest); its manifest."""
    r = skopeo("copy", "--src-tls-verify=false", *flags, f"docker://{host}/{name}", f"oci:{dest}:x")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(dest, "index.json")) as f:
        top = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(dest, "blobs", "sha256", top[7:]), "rb") as f:
        return json.load(f)


def image_id(env, ref: str) -> str:  # type: ignore[no-untyped-def]
    r = run_cli("image", "inspect", ref, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]["id"]


def test_tag_push_as_docker_shows_it_and_skopeo_reads_it_back(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = f"push-{uuid.uuid4().hex}"
    assert run_cli("image", "import", oci_archive(tmp_path, marker), "src:1", env=node).returncode == 0
    image = f"{registry.host}/app:1"
    r = run_cli("image", "tag", "src:1", image, env=node)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    ident = image_id(node, "src:1")
    assert image_id(node, image) == ident

    r = run_cli("image", "push", image, env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/app]", r.stdout
    pushed = [ln for ln in lines if ln.endswith(": Pushed")]
    assert len(pushed) == 1, r.stdout
    layer = pushed[0].split(":")[0]
    assert f"{layer}: Preparing" in lines and f"{layer}: Pushing" in lines, r.stdout
    digest, size = pushed_digest(r.stdout, "1")

    # What the registry has is what was printed, and it is the manifest the image was imported with.
    raw = raw_manifest(registry.host, "app:1")
    assert sha(raw) == digest and len(raw) == size
    assert registry.digest("app:1") == digest
    manifest = skopeo_copy_back(registry.host, "app:1", str(tmp_path / "back"))
    assert manifest == json.loads(raw)
    assert manifest["config"]["digest"] == ident
    assert manifest["layers"][0]["mediaType"].endswith("tar+gzip")
    assert layer == json.loads(run_cli("image", "inspect", image, env=node).stdout)[0]["layers"][0][7:19]
    info = json.loads(run_cli("image", "inspect", image, env=node).stdout)[0]
    assert f"{registry.host}/app@{digest}" in info["repo_digests"]

    # Again: the registry has every layer.
    again = run_cli("image", "push", image, env=node, timeout=60)
    assert again.returncode == 0, again.stderr
    assert f"{layer}: Layer already exists" in again.stdout.splitlines(), again.stdout
    assert "Pushed" not in again.stdout
    assert pushed_digest(again.stdout, "1") == (digest, size)

    # Another repository on the same registry: the layer is mounted from the first, not sent again.
    other = f"{registry.host}/team/other:2"
    assert run_cli("image", "tag", ident[7:19], other, env=node).returncode == 0
    mounted = run_cli("image", "push", other, env=node, timeout=60)
    assert mounted.returncode == 0, mounted.stderr
    assert f"{layer}: Mounted from app" in mounted.stdout.splitlines(), mounted.stdout
    assert pushed_digest(mounted.stdout, "2")[0] == digest
    assert registry.digest("team/other:2") == digest

    # -a: every tag of the repository, each with its digest line.
    assert run_cli("image", "tag", image, f"{registry.host}/app:latest", env=node).returncode == 0
    every = run_cli("image", "push", "-a", f"{registry.host}/app", env=node, timeout=60)
    assert every.returncode == 0, every.stderr
    assert [ln for ln in every.stdout.splitlines() if ": digest: " in ln] == [
        f"1: digest: {digest} size: {size}",
        f"latest: digest: {digest} size: {size}",
    ], every.stdout
    assert registry.digest("app:latest") == digest
    with_tag = run_cli("image", "push", "-a", image, env=node)
    assert with_tag.returncode != 0 and "tag can't be used with --all-tags/-a" in with_tag.stderr

    # A clean image store: the pushed image pulls back as the same image, and runs.
    assert run_cli("image", "rm", "-f", ident, env=node).returncode == 0
    assert run_cli("image", "inspect", image, env=node).returncode != 0
    pulled = run_cli("image", "pull", "-q", image, env=node, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip() == ident
    assert run_marker(node, image) == marker


def test_a_docker_save_import_pushes_with_a_manifest_of_its_stored_blobs(node, registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docker-save archives carry no manifest: the push writes an OCI manifest of the blobs as stored."""
    marker = f"save-{uuid.uuid4().hex}"
    spec = ImageSpec(layers=[busybox_entries(), [Entry("marker", marker.encode())]], tag="saved:1")
    archive = write_docker_save(str(tmp_path / "saved.tar"), spec)
    assert run_cli("image", "import", archive, env=node).returncode == 0
    ident = image_id(node, "saved:1")
    image = f"{registry.host}/saved:v2"
    assert run_cli("image", "tag", "saved:1", image, env=node).returncode == 0
    r = run_cli("image", "push", image, env=node, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len([ln for ln in r.stdout.splitlines() if ln.endswith(": Pushed")]) == 2, r.stdout
    digest, _ = pushed_digest(r.stdout, "v2")
    skopeo_copy_back(registry.host, "saved:v2", str(tmp_path / "back"))  # skopeo checks every blob (and recompresses)
    raw = raw_manifest(registry.host, "saved:v2")
    assert sha(raw) == digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["digest"] == ident
    assert [d["mediaType"] for d in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar"] * 2
    diff_ids = json.loads(run_cli("image", "inspect", image, env=node).stdout)[0]["layers"]
    assert [d["digest"] for d in manifest["layers"]] == diff_ids  # uncompressed: the blob is the layer tar

    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import settings

    clean = ImageStore(str(tmp_path / "clean"))
    record = pull.pull(clean, image, settings.RegistrySettings(insecure=(registry.host,)))
    assert record.id == ident and record.layers == tuple(diff_ids)


def test_errors_are_one_line_and_leave_no_tag(node, registry, engine_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from svc import dockerconfig

    unknown = run_cli("image", "push", f"{registry.host}/nothing:1", env=node)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert f"An image does not exist locally with the tag: {registry.host}/nothing:1" in unknown.stderr

    bad_tag = run_cli("image", "tag", "nosuch", f"{registry.host}/x:1", env=node)
    assert bad_tag.returncode != 0 and "No such image: nosuch:latest" in bad_tag.stderr, bad_tag.stderr
    assert len(bad_tag.stderr.strip().splitlines()) == 1

    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
        json.dump({"insecure-registries": [registry.host, down]}, f)
    assert run_cli("image", "tag", "busybox", f"{down}/app:1", env=node).returncode == 0
    r = run_cli("image", "push", f"{down}/app:1", env=node, timeout=60)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"pushing {down}/app:1: registry {down} unreachable" in r.stderr, r.stderr

    # Docker Hub takes no anonymous push: refused before any traffic (the node has no credentials either).
    if dockerconfig.credentials("docker.io") is not None:
        pytest.skip("this host has Docker Hub credentials; the test would reach Docker Hub")
    assert run_cli("image", "tag", "busybox", "svc-test-nobody/app:1", env=node).returncode == 0
    hub = run_cli("image", "push", "svc-test-nobody/app:1", env=node, timeout=30)
    assert hub.returncode != 0 and len(hub.stderr.strip().splitlines()) == 1, hub.stderr
    assert "pushing docker.io/svc-test-nobody/app:1: Docker Hub takes no anonymous push" in hub.stderr, hub.stderr
    assert "svc login" in hub.stderr


def test_a_corrupt_local_blob_is_not_completed_and_makes_no_tag(registry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A layer blob in the store that no longer matches its digest: the upload is not completed (for a whole
    PUT, the last bytes are never sent; for chunks, no closing PUT), and no manifest goes up."""
    import httpx

    from node.engine.images import ImageStore
    from node.engine.registry import push
    from svc.registry import settings

    store = ImageStore(str(tmp_path / "store"))
    (record,) = store.import_archive(oci_archive(tmp_path, f"corrupt-{uuid.uuid4().hex}"), "c:1")
    cfg = settings.RegistrySettings(insecure=(registry.host,))
    with open(store.blob_path(record.manifest), "rb") as f:
        layer = json.load(f)["layers"][0]["digest"]
    path = store.blob_path(layer)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    for chunk in (push.CHUNK_BYTES, 64 << 10):
        push.tag(store, "c:1", f"{registry.host}/corrupt:1")
        before = store.resolve("c:1").repo_digests  # an import's own NAME@<manifest> digests (docs/images.md)
        with pytest.raises(Exception) as err:
            push.push(store, f"{registry.host}/corrupt:1", cfg, chunk_size=chunk)
        text = str(err.value)
        assert text.startswith(f"pushing {registry.host}/corrupt:1: blob {layer} in the image store does not match")
        assert "\n" not in text
        base = f"http://{registry.host}/v2/corrupt"
        assert httpx.head(f"{base}/manifests/1").status_code == 404
        assert httpx.head(f"{base}/blobs/{layer}").status_code == 404
        assert store.resolve("c:1").repo_digests == before  # the failed push recorded no registry digest


def test_chunked_upload_to_the_real_registry(registry, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import pull, push
    from svc.registry import client, settings

    store = ImageStore(str(tmp_path / "store"))
    (record,) = store.import_archive(oci_archive(tmp_path, f"chunks-{uuid.uuid4().hex}"), "c:1")
    push.tag(store, "c:1", f"{registry.host}/chunks:1")
    methods: list[str] = []
    real = client.Endpoint._send

    def spy(self, method, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        methods.append(method)
        return real(self, method, path, *args, **kwargs)

    monkeypatch.setattr(client.Endpoint, "_send", spy)
    cfg = settings.RegistrySettings(insecure=(registry.host,))
    seen: list[tuple[str, str, int]] = []
    result = push.push(
        store, f"{registry.host}/chunks:1", cfg, lambda p: seen.append((p.id, p.status, p.current)), chunk_size=64 << 10
    )
    size = os.path.getsize(store.blob_path(store.layer_blob(record.layers[0])))
    assert methods.count("PATCH") == -(-size // (64 << 10)), methods  # the layer in 64 KiB chunks
    pushing = [c for i, s, c in seen if s == "Pushing"]
    assert pushing == sorted(pushing) and len(pushing) > 2
    manifest = skopeo_copy_back(registry.host, "chunks:1", str(tmp_path / "back"))
    assert sha(raw_manifest(registry.host, "chunks:1")) == result.digest
    assert manifest["config"]["digest"] == record.id
    clean = ImageStore(str(tmp_path / "clean"))
    assert pull.pull(clean, f"{registry.host}/chunks:1", cfg).id == record.id


def test_basic_auth_push_needs_svc_login(node_daemon, engine_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(str(tmp_path), htpasswd=write_htpasswd(str(tmp_path / "htpasswd"), "alice", "s3cret"))
    try:
        _, env = node_daemon
        with open(os.path.join(engine_env.data_dir, "node", "registries.json"), "w") as f:
            json.dump({"insecure-registries": [reg.host]}, f)
        env = {**env, "DOCKER_CONFIG": str(tmp_path / "docker")}
        assert (
            run_cli("image", "import", oci_archive(tmp_path, f"auth-{uuid.uuid4().hex}"), "s:1", env=env).returncode
            == 0
        )
        image = f"{reg.host}/private:1"
        assert run_cli("image", "tag", "s:1", image, env=env).returncode == 0

        denied = run_cli("image", "push", image, env=env, timeout=60)
        assert denied.returncode != 0 and len(denied.stderr.strip().splitlines()) == 1, denied.stderr
        assert f"pushing {image}: registry {reg.host} needs a login" in denied.stderr, denied.stderr
        assert "Pushed" not in denied.stdout

        wrong = {**env, "DOCKER_CONFIG": str(tmp_path / "wrong")}
        from svc import dockerconfig

        dockerconfig.store(reg.host, "alice", "nope", str(tmp_path / "wrong" / "config.json"))
        refused = run_cli("image", "push", image, env=wrong, timeout=60)
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert f"pushing {image}: registry {reg.host} refused" in refused.stderr and "(401)" in refused.stderr

        ok = run_cli("login", reg.host, "-u", "alice", "--password-stdin", env=env, input=b"s3cret\n")
        assert ok.returncode == 0, ok.stderr
        r = run_cli("image", "push", image, env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        digest, _ = pushed_digest(r.stdout, "1")
        assert sha(raw_manifest(reg.host, "private:1", "--creds", "alice:s3cret")) == digest
    finally:
        reg.stop()


def test_token_auth_asks_for_push_scope_and_the_mount_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import push
    from svc.registry import settings

    tokens = TokenServer(str(tmp_path))
    reg = Registry(str(tmp_path), token=tokens.registry_config())
    try:
        store = ImageStore(str(tmp_path / "store"))
        store.import_archive(oci_archive(tmp_path, f"token-{uuid.uuid4().hex}"), "t:1")
        cfg = settings.RegistrySettings(insecure=(reg.host,))
        push.tag(store, "t:1", f"{reg.host}/team/app:1")
        push.push(store, f"{reg.host}/team/app:1", cfg)
        scopes = [s for q in tokens.asked for s in q.get("scope", [])]
        assert "repository:team/app:pull,push" in scopes, tokens.asked
        tokens.asked.clear()
        push.tag(store, "t:1", f"{reg.host}/team/copy:1")
        seen: list[str] = []
        push.push(store, f"{reg.host}/team/copy:1", cfg, lambda p: seen.append(p.status))
        assert "Mounted from team/app" in seen, seen
        assert any(
            {"repository:team/copy:pull,push", "repository:team/app:pull"} <= set(q.get("scope", []))
            for q in tokens.asked
        ), tokens.asked
    finally:
        reg.stop()
        tokens.stop()


class _Refusing:
    """A registry that lets anyone look but answers 403 to every upload (as one with read-only access does)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, code: int, body: bytes = b"") -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(200, b"{}")

            def do_HEAD(self) -> None:
                self._answer(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                msg = {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
                self._answer(403, json.dumps(msg).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_403_names_the_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore
    from node.engine.registry import push
    from svc.errors import PermissionDenied
    from svc.registry import settings

    refusing = _Refusing()
    try:
        store = ImageStore(str(tmp_path / "store"))
        store.import_archive(oci_archive(tmp_path, f"denied-{uuid.uuid4().hex}"), "d:1")
        push.tag(store, "d:1", f"{refusing.host}/app:1")
        before = store.resolve("d:1").repo_digests
        with pytest.raises(PermissionDenied) as err:
            push.push(store, f"{refusing.host}/app:1", settings.RegistrySettings(insecure=(refusing.host,)))
        text = str(err.value)
        assert text.startswith(f"pushing {refusing.host}/app:1: registry {refusing.host} refused: "), text
        assert "denied" in text and "(403)" in text and "\n" not in text
        assert store.resolve("d:1").repo_digests == before
    finally:
        refusing.stop()
