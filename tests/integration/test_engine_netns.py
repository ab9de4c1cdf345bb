"""Network namespaces on a host shared with other tools (issue #10, item 7).

`ip netns add` makes /run/netns a shared bind mount of itself, which once stranded every svc
namespace pinned there (EBUSY on release). svc now pins them in its own unbindable directory
under the engine's run dir; these tests run the other tool for real and check nothing is left,
that a daemon restart adopts the directory, that namespaces of older versions (in /run/netns)
are still released, and that a removal that fails says which namespace and why.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess

import pytest
from helpers import mounts_under, nsfs_mounts

from svc.errors import RuntimeFailure
from svc.v1 import container_pb2 as pb

pytestmark = pytest.mark.root

SLEEP = pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"])


def _mountinfo_at(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == path]


def _names(cids: list[str]) -> list[str]:
    return [f"svc-{cid[:12]}" for cid in cids]


def test_ip_netns_add_on_the_host_strands_nothing(engine, engine_env, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="node.engine")
    cids = [engine.run(SLEEP).id for _ in range(4)]
    assert all(engine.get(cid).ip for cid in cids), "bridge networking gives each container an address"
    for name in _names(cids):
        assert os.path.exists(os.path.join(engine_env.netns_dir, name))
        assert not os.path.exists(os.path.join("/run/netns", name))
    (dir_mount,) = _mountinfo_at(engine_env.netns_dir)
    assert " unbindable " in dir_mount, dir_mount

    # /run/netns is left as iproute2 leaves it (a mount point): other tools on the host may be using it.
    probe = f"svc-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", probe], check=True, capture_output=True)
    subprocess.run(["ip", "netns", "del", probe], check=True, capture_output=True)
    assert _mountinfo_at("/run/netns"), "iproute2 made /run/netns a mount point, as on the reported host"

    # As a drain does: half stopped without waiting (the exit is settled on the engine's pool).
    for cid in cids[:2]:
        engine.stop(cid, grace=0.5, wait=False)
    for cid in cids[2:]:
        engine.stop(cid, grace=0.5)
    for cid in cids[:2]:
        engine.wait(cid, timeout=30)
    for cid in cids:
        engine.remove(cid)

    names = set(_names(cids))
    # By name in /run/netns: other tools' namespaces may be there (ours are never meant to be).
    left = nsfs_mounts(engine_env.netns_dir) + [m for m in nsfs_mounts("/run/netns") if os.path.basename(m) in names]
    assert not left, f"namespace mounts left: {left}"
    for d in (engine_env.netns_dir, "/run/netns"):
        assert not names & set(os.listdir(d) if os.path.isdir(d) else []), f"namespace files left in {d}"
    assert not mounts_under(engine_env.run_dir), "the directory's own mount goes with its last namespace"
    assert "busy" not in caplog.text.lower(), caplog.text
    assert "releasing network" not in caplog.text, caplog.text


def test_restart_adopts_the_directory_mount(engine_env, busybox_tar) -> None:  # type: ignore[no-untyped-def]
    from node.engine.engine import Engine

    first = Engine(engine_env.config())
    first.import_image(busybox_tar, "busybox")
    cids = [first.run(SLEEP).id for _ in range(2)]
    first.close()  # the daemon stops; the containers and their namespaces stay
    assert len(_mountinfo_at(engine_env.netns_dir)) == 1
    second = Engine(engine_env.config())
    try:
        assert all(second.get(cid).running for cid in cids)
        cids.append(second.run(SLEEP).id)  # the first namespace this engine makes: adopt, do not stack
        assert len(_mountinfo_at(engine_env.netns_dir)) == 1
    finally:
        for cid in cids:
            second.remove(cid, force=True)
        second.close()
    assert not mounts_under(engine_env.base)
    assert not os.listdir(engine_env.netns_dir)


def _legacy_namespace(name: str) -> str:
    """A namespace pinned where versions before this one pinned them (as `ip netns add` would)."""
    os.makedirs("/run/netns", exist_ok=True)
    path = os.path.join("/run/netns", name)
    open(path, "w").close()
    subprocess.run(["unshare", f"--net={path}", "true"], check=True)
    return path


def _created_by_an_old_version(eng) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A container whose start (by an older version) attached a namespace in /run/netns."""
    from node.engine.host import ATTACHED_MARKER

    cid = eng.create(SLEEP).id
    open(os.path.join(eng._files(cid).dir, ATTACHED_MARKER), "w").close()
    return cid, _legacy_namespace(f"svc-{cid[:12]}")


def test_namespaces_in_the_old_location_are_released(engine_env, busybox_tar) -> None:  # type: ignore[no-untyped-def]
    from node.engine.engine import Engine

    first = Engine(engine_env.config())
    first.import_image(busybox_tar, "busybox")
    _, old = _created_by_an_old_version(first)
    first.close()
    second = Engine(engine_env.config())  # restore: a stopped container holding a namespace is cleaned
    try:
        assert not os.path.exists(old) and not nsfs_mounts(old)
        cid2, old2 = _created_by_an_old_version(second)
        second.remove(cid2)
        assert not os.path.exists(old2) and not nsfs_mounts(old2)
    finally:
        for c in second.containers(all=True):
            second.remove(c.id, force=True)
        second.close()
    assert not mounts_under(engine_env.base)


def test_delete_names_a_namespace_it_cannot_remove(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The reported failure, reproduced in a scratch directory: a mount hidden beneath a later bind."""
    from node.engine.netns import Namespaces

    own, old = tmp_path / "own", tmp_path / "old"
    old.mkdir()
    pinned = old / "svc-hidden"
    pinned.touch()
    subprocess.run(["unshare", f"--net={pinned}", "true"], check=True)
    subprocess.run(["mount", "--rbind", str(old), str(old)], check=True)  # what `ip netns add` does to /run/netns
    try:
        with pytest.raises(RuntimeFailure, match=r"network namespace svc-hidden: removing .*svc-hidden: .*busy"):
            Namespaces(str(own), legacy_dirs=(str(old),)).delete("svc-hidden")
    finally:
        subprocess.run(["umount", "-l", str(old)], check=True)
        subprocess.run(["umount", str(pinned)], check=True)
        pinned.unlink()
    assert not nsfs_mounts(str(tmp_path))


def test_a_failed_unmount_is_logged_with_the_name_and_retried(engine, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from node.engine import netns

    real = netns.sys_umount2
    cid = engine.run(SLEEP).id
    name = f"svc-{cid[:12]}"

    def refusing(path: str, flags: int) -> int:
        return errno.EPERM if path.endswith(name) else real(path, flags)

    monkeypatch.setattr(netns, "sys_umount2", refusing)
    caplog.set_level(logging.WARNING, logger="node.engine")
    engine.stop(cid, grace=0.5)
    assert f"network namespace {name}: unmounting" in caplog.text
    assert "Operation not permitted" in caplog.text
    monkeypatch.setattr(netns, "sys_umount2", real)
    engine.remove(cid)  # the network is still marked attached: released now
    assert not engine.namespaces.exists(name)
