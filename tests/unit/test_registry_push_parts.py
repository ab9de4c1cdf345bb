"""The push's pure parts: which manifest goes up, where blobs may be mounted from, the Docker Hub refusal,
the tag forms the store answers to, the upload's own checks, and the push display."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest

from node.engine.registry import push
from node.engine.registry.pull import Progress
from svc import registryref as refs
from svc.errors import InvalidArgument, NotFound

CONFIG = push.Blob("sha256:" + "c" * 64, 100, push.OCI_CONFIG)
LAYER = push.Blob("sha256:" + "a" * 64, 2000, "application/vnd.oci.image.layer.v1.tar+gzip")
OTHER = push.Blob("sha256:" + "b" * 64, 3000, "application/vnd.oci.image.layer.v1.tar")


def _manifest(media: str, layers: list[push.Blob], config: push.Blob = CONFIG) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layers],
    }
    return json.dumps(doc, indent=3).encode()  # not how svc would write it: the bytes must be kept as they are


@pytest.mark.parametrize("media", [push.OCI_MANIFEST, push.DOCKER_MANIFEST])
def test_the_stored_manifest_goes_up_byte_for_byte_when_it_names_the_blobs(media: str) -> None:
    stored = _manifest(media, [LAYER])
    body, got = push.manifest_to_push(stored, CONFIG, [LAYER])
    assert body is stored and got == media


def test_a_layer_pushed_as_another_blob_makes_a_new_oci_manifest() -> None:
    stored = _manifest(push.DOCKER_MANIFEST, [LAYER])
    body, media = push.manifest_to_push(stored, CONFIG, [OTHER])
    assert media == push.OCI_MANIFEST
    doc = json.loads(body)
    assert doc["mediaType"] == push.OCI_MANIFEST and doc["schemaVersion"] == 2
    assert doc["config"] == {"mediaType": push.OCI_CONFIG, "digest": CONFIG.digest, "size": CONFIG.size}
    assert doc["layers"] == [{"mediaType": OTHER.media_type, "digest": OTHER.digest, "size": OTHER.size}]


@pytest.mark.parametrize("stored", [b"", b"not json", b"[]", b'{"manifests": []}'])
def test_no_usable_stored_manifest_makes_a_new_one(stored: bytes) -> None:
    body, media = push.manifest_to_push(stored, CONFIG, [LAYER, OTHER])
    assert media == push.OCI_MANIFEST
    assert [d["digest"] for d in json.loads(body)["layers"]] == [LAYER.digest, OTHER.digest]


def test_a_size_that_differs_is_not_the_stored_manifest() -> None:
    stored = _manifest(push.OCI_MANIFEST, [push.Blob(LAYER.digest, 1, LAYER.media_type)])
    body, _ = push.manifest_to_push(stored, CONFIG, [LAYER])
    assert body != stored


@pytest.mark.parametrize(
    "head, kind",
    [(gzip.compress(b"x"), "gzip"), (b"\x28\xb5\x2f\xfd\x00", "zstd"), (b"etc/\0\0\0", "tar"), (b"", "tar")],
)
def test_compression_from_the_first_bytes(head: bytes, kind: str) -> None:
    assert push.compression(head[:4]) == kind


def test_mount_sources_are_other_repositories_on_the_same_registry() -> None:
    ref = refs.parse("127.0.0.1:5000/team/app:2")
    d = "@sha256:" + "d" * 64
    digests = (
        "127.0.0.1:5000/team/app" + d,  # the target itself
        "127.0.0.1:5000/base" + d,
        "127.0.0.1:5001/elsewhere" + d,  # another registry
        "busybox" + d,  # Docker Hub
        "127.0.0.1:5000/base" + "@sha256:" + "e" * 64,  # the same repository again
    )
    assert push.mount_sources(ref, digests) == ["base"]
    assert push.mount_sources(refs.parse("team/x:1"), ("busybox" + d,)) == ["library/busybox"]


def test_docker_hub_takes_no_anonymous_push() -> None:
    assert push.needs_login(refs.parse("team/app:1"), None)
    assert not push.needs_login(refs.parse("team/app:1"), ("u", "p"))
    assert not push.needs_login(refs.parse("127.0.0.1:5000/app:1"), None)


def test_images_are_found_by_the_names_docker_gives_them() -> None:
    from node.engine.images import _tag_forms

    assert _tag_forms("team/app:1") == ["team/app:1", "docker.io/team/app:1"]
    assert _tag_forms("busybox") == ["busybox:latest"]
    assert _tag_forms("127.0.0.1:5000/app") == ["127.0.0.1:5000/app:latest"]
    assert _tag_forms("Bad Name") == []


class _Endpoint:
    """The upload methods of a real Endpoint with the HTTP replaced by a recorder (no network)."""

    def __init__(self) -> None:
        from svc.registry.client import Endpoint

        self.ep = Endpoint("http://127.0.0.1:9", "127.0.0.1:9")
        self.calls: list[tuple[str, str, bytes]] = []
        self.ep._send = self._send  # type: ignore[method-assign]

    def _send(self, method, path, scope, headers, content=None):  # type: ignore[no-untyped-def]
        import httpx

        body = b""
        if content is not None:
            made = content()
            body = made if isinstance(made, bytes) else b"".join(made)
        url = path if path.startswith("http://") else "http://127.0.0.1:9" + path
        self.calls.append((method, url, body))
        status = {"POST": 202, "PATCH": 202, "PUT": 201, "DELETE": 204}[method]
        headers = {"Location": f"/v2/app/blobs/uploads/u{len(self.calls)}"}
        return httpx.Response(status, headers=headers, request=httpx.Request(method, url))


def test_chunked_upload_patches_in_order_and_closes_with_the_digest() -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    fake = _Endpoint()
    fake.ep.upload_blob("app", digest, len(data), io.BytesIO(data), "s", chunk_size=4096)
    methods = [c[0] for c in fake.calls]
    assert methods == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert b"".join(c[2] for c in fake.calls if c[0] == "PATCH") == data
    # each request goes to the newest Location; the closing PUT carries the digest
    assert fake.calls[2][1].endswith("/uploads/u2") and fake.calls[3][1].endswith("/uploads/u3")
    assert fake.calls[-1][1].endswith(f"/uploads/u4?digest={digest.replace(':', '%3A')}")


def test_a_blob_that_does_not_match_its_digest_is_never_completed() -> None:
    data = b"x" * 10000
    wrong = "sha256:" + "0" * 64
    for chunk in (0, 4096):
        fake = _Endpoint()
        with pytest.raises(InvalidArgument, match="does not match its digest"):
            fake.ep.upload_blob("app", wrong, len(data), io.BytesIO(data), "s", chunk_size=chunk)
        # the whole PUT's last bytes are held back (it never completes), chunks get no closing PUT
        assert "PUT" not in [c[0] for c in fake.calls]
        assert fake.calls[-1][0] == "DELETE"  # the session is cancelled
    fake = _Endpoint()
    with pytest.raises(InvalidArgument, match="not its descriptor's 5"):
        fake.ep.upload_blob("app", wrong, 5, io.BytesIO(data), "s", chunk_size=2)


def test_tag_names_and_refusals(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from node.engine.images import ImageStore

    store = ImageStore(str(tmp_path))
    with pytest.raises(NotFound, match=r"^No such image: nosuch:latest$"):
        push.tag(store, "nosuch", "x:1")
    with pytest.raises(InvalidArgument, match="digest reference"):
        push.tag(store, "nosuch", "x@sha256:" + "0" * 64)
    with pytest.raises(NotFound, match=r"^An image does not exist locally with the tag: 127.0.0.1:5000/x:1$"):
        push.local_image(store, "127.0.0.1:5000/x:1")


def test_push_display_draws_a_bar_and_a_pipe_sees_each_status_once() -> None:
    from svc.cli.image import PullDisplay

    out = io.StringIO()
    d = PullDisplay(out, tty=False)
    for p in [
        Progress(status="The push refers to repository [127.0.0.1:5000/app]"),
        Progress(id="abc", status="Preparing"),
        Progress(id="abc", status="Pushing", current=0, total=100),
        Progress(id="abc", status="Pushing", current=50, total=100),
        Progress(id="abc", status="Pushed", current=100, total=100),
        Progress(status="1: digest: sha256:x size: 3"),
    ]:
        d.update(p)
    assert out.getvalue().splitlines() == [
        "The push refers to repository [127.0.0.1:5000/app]",
        "abc: Preparing",
        "abc: Pushing",
        "abc: Pushed",
        "1: digest: sha256:x size: 3",
    ]
    tty = io.StringIO()
    PullDisplay(tty, tty=True).update(Progress(id="abc", status="Pushing", current=50, total=100))
    assert "abc: Pushing [" in tty.getvalue() and "50B/100B" in tty.getvalue()
