"""The image store: every archive format, layers shared, whiteouts, and hostile archives refused."""

from __future__ import annotations

import os

import pytest
from imagebuild import Entry, ImageSpec, busybox_entries, tar_bytes, write_docker_save, write_oci_layout

from svc.errors import Conflict, InvalidArgument
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root


def run_output(engine, image: str, script: str) -> str:  # type: ignore[no-untyped-def]
    c = engine.run(pb.ContainerSpec(image=image, cmd=["sh", "-c", script]))
    engine.wait(c.id, timeout=30)
    return b"".join(e.data for e in engine.logs(c.id)).decode()


@pytest.mark.parametrize("fmt", ["busybox-docker.tar", "busybox-oci.tar"])
def test_import_formats_share_layers(engine, image_dir, fmt) -> None:  # type: ignore[no-untyped-def]
    [rec] = engine.import_image(os.path.join(image_dir, fmt), "other:1")
    assert "other:1" in rec.tags
    assert run_output(engine, "other:1", "cat /www/index.html") == "hello from svc\n"
    layers_dir = os.path.join(engine.images.root, "layers")
    before = set(os.listdir(layers_dir))
    engine.import_image(os.path.join(image_dir, fmt), "again:1")
    assert set(os.listdir(layers_dir)) == before  # unpacked once, shared


def test_image_config_is_honoured(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = {
        "Env": ["PATH=/bin", "COLOR=blue"],
        "Entrypoint": ["sh", "-c"],
        "Cmd": ["echo $COLOR $(pwd) $(id -u)"],
        "WorkingDir": "/www",
        "User": "nobody",
        "Labels": {"a": "b"},
        "StopSignal": "SIGUSR1",
    }
    path = write_docker_save(
        str(tmp_path / "cfg.tar"), ImageSpec(layers=[busybox_entries()], config=config, tag="cfg:1")
    )
    engine.import_image(path)
    c = engine.run(pb.ContainerSpec(image="cfg:1"))
    engine.wait(c.id, timeout=30)
    assert b"".join(e.data for e in engine.logs(c.id)) == b"blue /www 65534\n"
    assert c.stop_signal == 10


def test_whiteouts_and_opaque_dirs(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = [
        *busybox_entries(),
        *(Entry("data", kind="dir", mode=0o755), Entry("data/a", b"a"), Entry("data/b", b"b"), Entry("gone", b"x")),
        *(Entry("keep", kind="dir", mode=0o755), Entry("keep/old", b"o")),
    ]
    top = [
        Entry("data", kind="dir", mode=0o755),
        Entry("data/.wh.a", b""),
        Entry(".wh.gone", b""),
        Entry("keep", kind="dir", mode=0o755),
        Entry("keep/.wh..wh..opq", b""),
        Entry("keep/new", b"n"),
        Entry("hard", kind="link", target="keep/new"),
    ]
    for writer in (write_docker_save, write_oci_layout):
        path = writer(str(tmp_path / f"w-{writer.__name__}.tar"), ImageSpec(layers=[base, top], tag="wh:1"))
        engine.import_image(path)
        out = run_output(engine, "wh:1", "ls /data; ls /keep; test -e /gone || echo no-gone; cat /hard")
        assert out.split() == ["b", "new", "no-gone", "n"]


@pytest.mark.parametrize(
    "entry, message",
    [
        (Entry("../escape", b"x"), "outside the layer"),
        (Entry("/abs", b"x"), "absolute path"),
        (Entry("a/../../escape", b"x"), "outside the layer"),
    ],
)
def test_hostile_entries_are_refused(engine, tmp_path, entry, message) -> None:  # type: ignore[no-untyped-def]
    _assert_refused(engine, tmp_path, [*busybox_entries(), entry], message)


def test_write_through_symlink_is_refused(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = [Entry("link", kind="symlink", target=str(outside)), Entry("link/pwned", b"x")]
    _assert_refused(engine, tmp_path, layer, "through a symlink")
    assert not (outside / "pwned").exists()


def test_hard_link_outside_is_refused(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _assert_refused(engine, tmp_path, [Entry("passwd", kind="link", target="../../../../etc/passwd")], "outside")


def _assert_refused(engine, tmp_path, layer, message) -> None:  # type: ignore[no-untyped-def]
    layers_dir = os.path.join(engine.images.root, "layers")
    before = set(os.listdir(layers_dir))
    before_images = {i.id for i in engine.images.records()}
    path = write_docker_save(str(tmp_path / "evil.tar"), ImageSpec(layers=[layer], tag="evil:1"))
    with pytest.raises(InvalidArgument, match=message):
        engine.import_image(path)
    assert set(os.listdir(layers_dir)) == before
    assert not os.listdir(os.path.join(engine.images.root, "tmp"))
    assert {i.id for i in engine.images.records()} == before_images


def test_corrupt_archives_are_refused(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(InvalidArgument, match="not a readable tar archive"):
        engine.import_image(str(garbage))
    bad_digest = tmp_path / "bad.tar"
    # A layer the store does not have yet (a known diff id is reused without reading the archive).
    spec = ImageSpec(layers=[[*busybox_entries(), Entry("unique", b"corrupt-test")]], tag="bad:1")
    write_docker_save(str(bad_digest), spec)
    # Swap the layer for another: the config's diff id no longer matches.
    import tarfile

    with tarfile.open(bad_digest) as t:
        members = {m.name: t.extractfile(m).read() if m.isfile() else None for m in t.getmembers()}
    layer_name = next(n for n in members if n.endswith("layer.tar"))
    members[layer_name] = tar_bytes([Entry("other", b"y")])
    entries = [Entry(n, d) if d is not None else Entry(n, kind="dir", mode=0o755) for n, d in members.items()]
    bad_digest.write_bytes(tar_bytes(entries))
    with pytest.raises(InvalidArgument, match="does not match its diff id"):
        engine.import_image(str(bad_digest))


def test_image_rm_refuses_while_in_use(engine) -> None:  # type: ignore[no-untyped-def]
    c = engine.create(pb.ContainerSpec(image="busybox", cmd=["true"]))
    with pytest.raises(Conflict, match="in use"):
        engine.remove_image("busybox")
    engine.remove(c.id)
    assert engine.remove_image("busybox")[-1].startswith("Deleted: sha256:")
    assert os.listdir(os.path.join(engine.images.root, "layers")) == []
