"""Image garbage collection on a real node: `svc image prune [-a]` and the high-water-mark collection.

Images here share busybox's layer (the node fixture imports it as a rootfs tarball; the others are
`docker save` archives of the same layer plus one of their own), so the store must keep a shared part
while any image uses it and leave no blob or layer behind once none does.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from helpers import Daemon, free_port, poll, run_cli
from imagebuild import Entry, ImageSpec, busybox_entries, write_docker_save

from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root


def _image(tmp_path, name: str, tag: str) -> str:  # type: ignore[no-untyped-def]
    spec = ImageSpec(layers=[busybox_entries(), [Entry(f"{name}.txt", name.encode())]], tag=tag)
    return write_docker_save(str(tmp_path / f"{name}.tar"), spec)


def _images(env: dict[str, str]) -> dict[str, list[str]]:
    """id -> tags, from `svc image ls --format json`."""
    r = run_cli("image", "inspect", *_ids(env), env=env) if _ids(env) else None
    if r is None:
        return {}
    assert r.returncode == 0, r.stderr
    return {d["id"]: list(d.get("tags", [])) for d in json.loads(r.stdout)}


def _ids(env: dict[str, str]) -> list[str]:
    r = run_cli("image", "ls", "-q", env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def _import(env: dict[str, str], path: str, ref: str = "") -> str:
    r = run_cli("image", "import", path, *([ref] if ref else []), env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _store_is_exactly_its_images(store: str) -> None:
    """Every blob and unpacked layer on disk belongs to a recorded image, and every recorded one is there."""
    with open(os.path.join(store, "index.json")) as f:
        index = json.load(f)
    layers = {d for rec in index["images"].values() for d in rec["layers"]}
    blobs = set(index["images"]) | {rec["manifest"] for rec in index["images"].values()}
    blobs |= {index["layers"][d][1] for d in layers}
    assert set(index["layers"]) == layers
    assert {"sha256:" + n for n in os.listdir(os.path.join(store, "blobs", "sha256"))} == blobs
    assert {"sha256:" + n for n in os.listdir(os.path.join(store, "layers"))} == layers
    assert os.listdir(os.path.join(store, "tmp")) == []


def _metrics(addr: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("svc_node_image"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_prune_dangling_then_all(node_daemon, engine_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d, env = node_daemon
    store = os.path.join(engine_env.data_dir, "node", "images")
    _import(env, _image(tmp_path, "one", "app:1"))
    _import(env, _image(tmp_path, "two", "app:2"))
    before = _images(env)
    [old_one] = [i for i, tags in before.items() if any(t.endswith("app:1") for t in tags)]
    _import(env, _image(tmp_path, "three", "app:1"))  # takes the tag: the first app:1 is dangling now
    assert _images(env)[old_one] == []
    r = run_cli("container", "run", "-d", "--name", "keep", "app:2", "sleep", "1000", env=env)
    assert r.returncode == 0, r.stderr
    run_cli("container", "stop", "keep", env=env)  # stopped, but a container still uses it

    r = run_cli("image", "prune", env=env, input=b"n\n")
    assert r.returncode == 1 and r.stderr.strip() == "svc: image prune has been cancelled"
    assert "WARNING! This will remove all dangling images." in r.stdout
    assert old_one in _images(env)

    r = run_cli("image", "prune", env=env, input=b"y\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-3:] == [f"deleted: {old_one}", "", r.stdout.splitlines()[-1]]
    assert "Deleted Images:" in r.stdout and r.stdout.splitlines()[-1].startswith("Total reclaimed space: ")
    assert r.stdout.splitlines()[-1] != "Total reclaimed space: 0B"
    left = _images(env)
    assert old_one not in left and len(left) == 3  # busybox, app:1 (three), app:2 (two)
    _store_is_exactly_its_images(store)

    r = run_cli("image", "prune", "-f", env=env)  # nothing dangling left
    assert r.returncode == 0 and r.stdout == "\nTotal reclaimed space: 0B\n", r.stdout

    r = run_cli("image", "prune", "-a", "-f", env=env)
    assert r.returncode == 0, r.stderr
    assert "untagged: busybox:latest" in r.stdout and "untagged: app:1" in r.stdout, r.stdout
    assert "app:2" not in r.stdout
    [(kept, tags)] = _images(env).items()
    assert tags == ["app:2"]
    _store_is_exactly_its_images(store)  # the shared busybox layer stays: app:2 uses it
    r = run_cli("container", "start", "keep", env=env)
    assert r.returncode == 0, r.stderr  # its image is whole

    run_cli("container", "rm", "-f", "keep", env=env)
    r = run_cli("image", "prune", "-a", "-f", env=env)
    assert r.returncode == 0 and f"deleted: {kept}" in r.stdout
    assert _images(env) == {}
    _store_is_exactly_its_images(store)
    assert os.listdir(os.path.join(store, "blobs", "sha256")) == []

    addr = d.args[d.args.index("--metrics-addr") + 1]
    m = _metrics(addr)
    assert m["svc_node_images"] == 0 and m["svc_node_image_store_bytes"] == 0
    assert m["svc_node_image_gc_runs_total"] == 3 and m["svc_node_image_gc_reclaimed_bytes_total"] > 0


def test_automatic_gc_past_the_high_water_mark(engine_env, busybox_tar, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Default thresholds keep everything; a restart with a 1 % high-water mark removes what is unused."""
    env = {"SVC_RUN_DIR": engine_env.run_dir}
    log = os.path.join(engine_env.base, "node.log")
    sock = os.path.join(engine_env.run_dir, "engine.sock")
    store = os.path.join(engine_env.data_dir, "node", "images")
    addr = f"127.0.0.1:{free_port()}"
    d = Daemon(engine_env.node_args("--metrics-addr", addr), log).start()
    try:
        poll(lambda: os.path.exists(sock) and run_cli("image", "ls", env=env).returncode == 0, 30, what="the node")
        _import(env, busybox_tar, "busybox")
        _import(env, _image(tmp_path, "one", "app:1"))
        _import(env, _image(tmp_path, "two", "app:2"))
        r = run_cli("container", "run", "-d", "--name", "keep", "app:2", "sleep", "1000", env=env)
        assert r.returncode == 0, r.stderr
        time.sleep(1.0)  # a check ran after each import: the disk is below 85 %, nothing goes
        assert len(_ids(env)) == 3
        d.stop()
        low = ("--image-gc-high-threshold", "1", "--image-gc-low-threshold", "0", "--image-gc-min-age", "0")
        d = Daemon(engine_env.node_args("--metrics-addr", addr, *low), log).start()
        poll(lambda: os.path.exists(sock) and run_cli("image", "ls", env=env).returncode == 0, 30, what="the node")
        poll(lambda: len(_ids(env)) == 1, 30, what="image GC to remove the unused images")
        [(_, tags)] = _images(env).items()
        assert tags == ["app:2"]  # the running container's image stays
        _store_is_exactly_its_images(store)
        m = _metrics(addr)
        assert m["svc_node_image_gc_runs_total"] >= 1 and m["svc_node_image_gc_reclaimed_bytes_total"] > 0
        with open(log) as f:
            assert "image GC: disk past 1%: removed 2 images" in f.read()
        r = run_cli("container", "exec", "keep", "cat", "/two.txt", env=env)
        assert r.returncode == 0 and r.stdout == "two", r.stderr
    finally:
        if d.alive():
            ids = run_cli("container", "ls", "-aq", "--no-trunc", env=env).stdout.split()
            if ids:
                run_cli("container", "rm", "-f", *ids, env=env)
        d.stop()
    assert not engine_env.leftovers()


def test_pinned_images_and_pulls_in_progress_are_kept(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What a task assigned here needs is never pruned; nor are the blobs and layers a pull holds."""
    [one] = engine.import_image(_image(tmp_path, "one", "app:1"))
    [two] = engine.import_image(_image(tmp_path, "two", "app:2"))
    engine.pin_images({"app:1"})
    own_layer = two.layers[-1]
    blob = engine.images.layer_blob(own_layer)
    engine.images.hold([own_layer, blob])  # as a pull of an image with that layer does
    try:
        pruned = engine.prune_images(all=True)
        deleted = [n for k, n in pruned.items if k == "deleted"]
        assert one.id not in deleted and two.id in deleted
        assert engine.images.has_layer(own_layer) and engine.images.has_blob(blob)
    finally:
        engine.images.release([own_layer, blob])
    assert [r.id for r in engine.images.records()] == [one.id]
    engine.pin_images(set())
    c = engine.create(pb.ContainerSpec(image="app:1", cmd=["true"]))
    assert [n for k, n in engine.prune_images(all=True).items if k == "deleted"] == []  # a created one counts
    engine.remove(c.id)
