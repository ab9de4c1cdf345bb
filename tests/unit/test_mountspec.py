"""--mount/-v parsing (svc/mountspec.py) and the node's volume store and copy-up rule (node/engine/volumes.py)."""

from __future__ import annotations

import os

import pytest

from node.engine import volumes
from svc import containerspec
from svc.errors import InvalidArgument
from svc.mountspec import parse_mount, parse_volume_flag, update_mounts, validate_mounts
from svc.v1 import container_pb2 as pb


def test_volume_mount() -> None:
    m = parse_mount("type=volume,source=data,target=/data,readonly,volume-label=a=b,volume-label=c")
    assert (m.type, m.source, m.target, m.read_only) == ("volume", "data", "/data", True)
    assert dict(m.volume_labels) == {"a": "b", "c": ""}
    assert parse_mount("src=data,dst=/d").type == "volume"  # docker's default type and aliases
    assert not parse_mount("source=data,target=/d,readonly=false").read_only


def test_bind_and_tmpfs() -> None:
    b = parse_mount("type=bind,source=/srv/x,target=/x,ro")
    assert (b.type, b.source, b.read_only) == ("bind", "/srv/x", True)
    t = parse_mount("type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1770")
    assert (t.tmpfs_size_bytes, t.tmpfs_mode) == (64 << 20, 0o1770)


def test_short_form() -> None:
    assert parse_volume_flag("data:/data:ro") == pb.Mount(type="volume", source="data", target="/data", read_only=True)
    assert parse_volume_flag("/host:/x").type == "bind"
    assert not parse_volume_flag("/host:/x:rw").read_only


@pytest.mark.parametrize(
    "text, words",
    [
        ("type=nfs,source=a1,target=/x", "type 'nfs'"),
        ("type=volume,source=data", "target is missing"),
        ("type=volume,source=data,target=rel", "absolute"),
        ("type=volume,source=data,target=/", "must not be /"),
        ("type=volume,source=bad/name,target=/x", "volume name"),
        ("type=bind,source=rel,target=/x", "absolute path"),
        ("type=tmpfs,source=x,target=/x", "no source"),
        ("type=tmpfs,target=/x,readonly", "cannot be readonly"),
        ("type=tmpfs,target=/x,tmpfs-mode=99", "octal"),
        ("type=tmpfs,target=/x,tmpfs-size=lots", "tmpfs-size"),
        ("type=bind,source=/a,target=/x,tmpfs-size=1m", "only for type=tmpfs"),
        ("type=bind,source=/a,target=/x,volume-label=a=b", "only for type=volume"),
        ("type=volume,source=v1,target=/x,colour=red", "unknown key 'colour'"),
        ("type=volume,source,target=/x", "needs a value"),
    ],
)
def test_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words) as info:
        parse_mount(text)
    assert "\n" not in str(info.value)


def test_short_form_refused() -> None:
    for text in ("data", "a:b:c:d", "data:/x:rx", "x:/y"):
        with pytest.raises(InvalidArgument):
            parse_volume_flag(text)


def test_spec_validation_checks_mounts() -> None:
    """The managers and the engine run containerspec.validate: a mount the CLI did not parse is checked."""
    spec = pb.ContainerSpec(image="busybox", mounts=[pb.Mount(type="volume", source="v", target="/x")])
    with pytest.raises(InvalidArgument, match="volume name"):
        containerspec.validate(spec)
    two = [parse_mount("source=a1,target=/x"), parse_mount("type=tmpfs,target=/x/")]
    with pytest.raises(InvalidArgument, match="two mounts at /x"):
        validate_mounts(two)


def test_update_mounts() -> None:
    mounts = [parse_mount("source=a1,target=/a"), parse_mount("source=b1,target=/b")]
    out = update_mounts(mounts, ["source=c1,target=/b"], ["/a"])
    assert [(m.source, m.target) for m in out] == [("c1", "/b")]  # an added mount replaces its target's
    with pytest.raises(InvalidArgument, match="no mount at /z"):
        update_mounts(mounts, [], ["/z"])


def test_copy_up_rule() -> None:
    assert volumes.should_copy_up(populated=False, volume_empty=True, image_has_content=True)
    assert not volumes.should_copy_up(populated=True, volume_empty=True, image_has_content=True)
    assert not volumes.should_copy_up(populated=False, volume_empty=False, image_has_content=True)
    assert not volumes.should_copy_up(populated=False, volume_empty=True, image_has_content=False)


def test_store_copies_up_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "rootfs" / "etc"
    (image / "sub").mkdir(parents=True)
    (image / "passwd").write_text("root:x:0:0\n")
    os.chmod(image / "passwd", 0o640)
    os.symlink("passwd", image / "link")
    store = volumes.VolumeStore(str(tmp_path / "volumes"))
    _, made = store.create("data", {"a": "b"})
    assert made and not store.create("data")[1]
    store.populate("data", str(image))
    data = tmp_path / "volumes" / "data" / "_data"
    assert (data / "passwd").read_text() == "root:x:0:0\n" and (data / "sub").is_dir()
    assert os.readlink(data / "link") == "passwd" and (os.stat(data / "passwd").st_mode & 0o777) == 0o640
    (data / "passwd").unlink()
    (data / "link").unlink()
    (data / "sub").rmdir()
    store.populate("data", str(image))  # emptied later: never copied again
    assert not os.listdir(data)
    assert store.get("data").labels == {"a": "b"} and [x.name for x in store.all()] == ["data"]
    store.remove("data")
    assert not (tmp_path / "volumes" / "data").exists()


def test_oci_mounts_order_and_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = volumes.VolumeStore(str(tmp_path / "volumes"))
    made: list[str] = []
    mounts = [
        parse_mount("source=deep,target=/a/b"),
        parse_mount("type=tmpfs,target=/a,tmpfs-size=1m"),
        parse_mount("type=bind,source=/srv,target=/srv,readonly"),
    ]
    out = volumes.oci_mounts(mounts, str(tmp_path / "rootfs"), store, made)
    assert [m["destination"] for m in out] == ["/a", "/srv", "/a/b"]
    assert out[0]["options"] == ["nosuid", "nodev", "noexec", "mode=1777", f"size={1 << 20}"]
    assert out[1]["options"] == ["rbind", "rprivate", "ro"]
    assert out[2]["source"] == str(tmp_path / "volumes" / "deep" / "_data") and made == ["deep"]


def test_check_binds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    volumes.check_binds([parse_mount(f"type=bind,source={tmp_path},target=/x")], [str(data)])
    with pytest.raises(InvalidArgument, match="does not exist"):
        volumes.check_binds([parse_mount(f"type=bind,source={tmp_path}/nope,target=/x")], [])
    with pytest.raises(InvalidArgument, match="inside svc's own directory"):
        volumes.check_binds([parse_mount(f"type=bind,source={data}/x,target=/x")], [str(data)])


def test_in_use_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading

    from node.engine.volumeapi import Volumes
    from svc.errors import Conflict, NotFound

    users: dict[str, list[tuple[str, str]]] = {"used": [("c" * 64, "web")]}
    api = Volumes(volumes.VolumeStore(str(tmp_path)), lambda: users, threading.RLock())
    for name in ("used", "free", "made"):
        api.create(name, {})
    with pytest.raises(Conflict, match="volume used is in use by container web"):
        api.remove("used")
    api.forget("used", "other")  # another container names it: kept
    users["made"] = [("d" * 64, "starting")]
    api.forget("made", "d" * 64)  # only the failed start itself: gone
    assert api.prune()[0] == ["free"]
    assert [v.volume.name for v in api.ls()] == ["used"] and api.inspect("used").containers == ["c" * 64]
    with pytest.raises(NotFound):
        api.remove("free")
    api.remove("free", force=True)
