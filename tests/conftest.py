"""Fixtures shared by every suite: test images, engines and node daemons with leftover checks."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import (
    Daemon,
    bridge_ports,
    cgroup_children,
    delete_bridge,
    delete_portmap_rules,
    host_tools_missing,
    is_root,
    masquerade_rules,
    mounts_under,
    netns_list,
    poll,
    portmap_rules,
    remove_cgroup_parent,
)
from imagebuild import ImageSpec, busybox_entries, write_docker_save, write_oci_layout, write_rootfs_tar

_counter = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `root` need root and the host tools; say exactly why they are skipped."""
    reason = ""
    if not is_root():
        reason = "needs root"
    else:
        missing = host_tools_missing()
        if missing:
            reason = "missing host tools: " + ", ".join(missing) + " (run ./deploy/test.sh)"
    if not reason:
        return
    for item in items:
        if "root" in item.keywords or "cluster" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox images in every format the engine imports."""
    d = str(tmp_path_factory.mktemp("images"))
    write_rootfs_tar(os.path.join(d, "busybox-rootfs.tar"))
    spec = ImageSpec(layers=[busybox_entries()])
    write_docker_save(os.path.join(d, "busybox-docker.tar"), spec)
    write_oci_layout(os.path.join(d, "busybox-oci.tar"), spec)
    return d


@pytest.fixture
def busybox_tar(image_dir: str) -> str:
    return os.path.join(image_dir, "busybox-rootfs.tar")


class EngineEnv:
    """Per-test engine settings: own directories, bridge, subnet and cgroup parent."""

    def __init__(self, base: str, runtime: str = "runc") -> None:
        n = next(_counter) % 200 + 20
        self.base = base
        self.data_dir = os.path.join(base, "data")
        self.run_dir = os.path.join(base, "run")
        self.bridge = f"svct{os.getpid() % 1000}x{n}"[:15]
        self.subnet = f"10.{200 + (os.getpid() % 50)}.{n}.0/24"
        self.cgroup_parent = f"svc-test-{os.getpid()}-{n}"
        self.runtime = runtime

    def config(self):  # type: ignore[no-untyped-def]
        from node.engine.engine import EngineConfig

        return EngineConfig(
            data_dir=self.data_dir,
            run_dir=self.run_dir,
            runtime=self.runtime,
            cgroup_parent=self.cgroup_parent,
            bridge=self.bridge,
            subnet=self.subnet,
        )

    def node_args(self, *extra: str) -> list[str]:
        return [
            "node",
            "--data-dir",
            self.data_dir,
            "--run-dir",
            self.run_dir,
            "--cgroup-parent",
            self.cgroup_parent,
            "--bridge",
            self.bridge,
            "--subnet",
            self.subnet,
            "--runtime",
            self.runtime,
            *extra,
        ]

    @property
    def netns_dir(self) -> str:
        return os.path.join(self.run_dir, "netns")  # where this engine pins its network namespaces

    def leftovers(self) -> list[str]:
        found = [f"mount {m}" for m in mounts_under(self.base)]
        if os.path.isdir(self.netns_dir):  # its mounts are in mounts_under(base); this finds bare files
            found += [f"netns file {n}" for n in os.listdir(self.netns_dir)]
        found += [f"cgroup {c}" for c in cgroup_children(self.cgroup_parent)]
        found += [f"bridge port {p}" for p in bridge_ports(self.bridge)]
        ipam = os.path.join(self.run_dir, "cni", "ipam", "svc-" + self.bridge)
        if os.path.isdir(ipam):
            found += [f"address {a}" for a in os.listdir(ipam) if a != "lock" and not a.startswith("last_")]
        return found  # (the bridge and its NAT rule stay while the engine lives; cleanup removes them)

    def cleanup(self) -> None:
        delete_bridge(self.bridge)
        remove_cgroup_parent(self.cgroup_parent)


def _assert_clean(env: EngineEnv, netns_before: set[str]) -> None:
    left = env.leftovers() + [f"netns {n}" for n in set(netns_list()) - netns_before]
    assert not left, f"the test left things behind: {left}"


@pytest.fixture
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineEnv]:
    env = EngineEnv(str(tmp_path_factory.mktemp("engine")))
    yield env
    _release(env)


def _release(env: EngineEnv) -> None:
    """Remove the engine's bridge and rules; fail on the rules it should have removed itself."""
    portmaps = portmap_rules(env.bridge)
    delete_portmap_rules(env.bridge)
    env.cleanup()
    assert not masquerade_rules(env.bridge), f"NAT rules of {env.bridge} left behind"
    assert not portmaps, f"published-port rules of {env.bridge} left behind: {portmaps}"


def _make_engine(env: EngineEnv):  # type: ignore[no-untyped-def]
    from node.engine.engine import Engine

    return Engine(env.config())


@pytest.fixture
def engine(engine_env: EngineEnv, busybox_tar: str) -> Iterator[object]:
    """An in-process engine with busybox imported; every container is removed and checked for leftovers."""
    before = set(netns_list())
    eng = _make_engine(engine_env)
    eng.import_image(busybox_tar, "busybox")
    yield eng
    for c in eng.containers(all=True):
        eng.remove(c.id, force=True)
    eng.close()
    _assert_clean(engine_env, before)


@pytest.fixture(params=["runc", "crun"])
def any_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, busybox_tar: str
) -> Iterator[object]:
    """The lifecycle conformance suite's engine: once per runtime; skipped where the host refuses it."""
    from node.engine.runtime import RuncFamily

    env = EngineEnv(str(tmp_path_factory.mktemp("engine")), runtime=request.param)
    binary = shutil.which(request.param)
    if binary is None:
        pytest.skip(f"{request.param} is not installed")
    from node.engine.monitor import Conmon

    probe = RuncFamily(
        request.param,
        binary,
        os.path.join(env.run_dir, "probe"),
        Conmon("conmon", os.path.join(env.run_dir, "x"), os.path.join(env.run_dir, "s")),
    )
    reason = probe.probe()
    if reason:
        print(f"\n{request.param} skipped: {reason}")
        pytest.skip(f"{request.param} cannot run on this host: {reason}")
    before = set(netns_list())
    eng = _make_engine(env)
    eng.import_image(busybox_tar, "busybox")
    yield eng
    for c in eng.containers(all=True):
        eng.remove(c.id, force=True)
    eng.close()
    _assert_clean(env, before)
    _release(env)


@pytest.fixture
def node_daemon(engine_env: EngineEnv, busybox_tar: str) -> Iterator[tuple[Daemon, dict[str, str]]]:
    """A real `svcd node` process and the environment the CLI needs to reach it."""
    from helpers import free_port, run_cli

    before = set(netns_list())
    log = os.path.join(engine_env.base, "node.log")
    d = Daemon(engine_env.node_args("--metrics-addr", f"127.0.0.1:{free_port()}"), log).start()
    cli_env = {"SVC_RUN_DIR": engine_env.run_dir}
    sock = os.path.join(engine_env.run_dir, "engine.sock")
    poll(
        lambda: os.path.exists(sock) and run_cli("image", "ls", env=cli_env).returncode == 0,
        30,
        what="the node daemon to answer",
    )
    r = run_cli("image", "import", busybox_tar, "busybox", env=cli_env)
    assert r.returncode == 0, r.stderr
    yield d, cli_env
    if not d.alive():
        d.start()
        poll(lambda: run_cli("image", "ls", env=cli_env).returncode == 0, 30, what="the node daemon to restart")
    ids = run_cli("container", "ls", "-aq", "--no-trunc", env=cli_env).stdout.split()
    if ids:
        run_cli("container", "rm", "-f", *ids, env=cli_env)
    d.stop()
    _assert_clean(engine_env, before)


@pytest.fixture
def make_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, image_dir: str
) -> Iterator[Any]:
    """Build clusters of real daemons; everything is torn down (and checked) after the test."""
    from harness import Cluster

    made: list[Cluster] = []

    def make(heartbeat: float = 1.0, netns: bool = False) -> Cluster:
        tag = f"{os.getpid() % 1000}{next(_counter) % 100}"
        net = None
        if netns:
            from netns import TestNet

            n = next(_counter) % 200 + 20
            net = TestNet(tag=tag, subnet=f"10.{240 + os.getpid() % 10}.{n}.0/24")
        c = Cluster(str(tmp_path_factory.mktemp("cluster")), tag, heartbeat=heartbeat, net=net)
        c.busybox = os.path.join(image_dir, "busybox-rootfs.tar")  # type: ignore[attr-defined]
        made.append(c)
        return c

    before = set(netns_list())
    yield make
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    left_behind = []
    for c in made:
        if failed:
            try:
                print(c.logs())
            except Exception as exc:  # a failed report must not keep the cluster running (it once did)
                print(f"(no cluster logs: {exc})")
        left = c.teardown()
        if left:
            left_behind.append(left)
    assert not left_behind, f"the cluster left things behind: {left_behind}"
    assert set(netns_list()) <= before, f"network namespaces left: {set(netns_list()) - before}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _no_vxlan_id_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves a VXLAN id in use in the host's namespace fails itself, and the device goes,
    rather than every later overlay test on the host failing with "File exists" (vxlanleak.py)."""
    if not is_root() or os.sep + "unit" + os.sep in str(request.node.path):
        yield
        return
    import vxlanleak

    before = vxlanleak.ids_in_use()
    yield
    left = vxlanleak.ids_in_use() - before
    if left:
        pytest.fail(f"the test left VXLAN ids {sorted(left)} in use: {'; '.join(vxlanleak.release(left))}")
