"""Engine vs bare runc: start and remove N containers running `true`; memory per running container.

    sudo python3 bench/engine_bench.py [--count 100] [--idle 50] [--json out.json]

Rows, in one run on one machine:
- `runc run` (create, start, wait, delete) of `runc spec`'s bundle (busybox rootfs, no network, no
  seccomp filter, three capabilities): the old floor.
- `runc run` of the engine's own bundle: the config.json the engine wrote for a `true` container
  (Docker's seccomp profile and capabilities, masked paths, its /etc files), on the read-only
  image layer and a fresh network namespace: the same bundle, the floor the targets are against.
- the same bundle as `runc create` + `runc start` + `runc delete`: the split any monitor needs.
- the engine (in-process facade), --network none: that bundle plus overlay rootfs, netns, conmon,
  logs, state records.
- the engine, --network bridge (the node bridge wired in-process, host-local's store): the default.
- the engine through the daemon's API (`svcd node`, gRPC on its unix socket), --network none.
Memory: the daemon's and conmon's proportional set size (PSS) per running `sleep` container.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import psutil  # noqa: E402

from node.engine.engine import Engine, EngineConfig  # noqa: E402
from svc.v1 import container_pb2 as pb  # noqa: E402


def runc_bundle(rootfs: str, base: str) -> str:
    bundle = os.path.join(base, "bundle")
    os.makedirs(bundle)
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"] = {"path": rootfs, "readonly": True}
    from node.engine.ocispec import default_nofile

    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": default_nofile(), "soft": default_nofile()}]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def engine_bundle(engine: Engine, rootfs: str, base: str) -> str:
    """A bundle with the config.json the engine writes for `true` with --network none (see the docstring)."""
    c = engine.run(pb.ContainerSpec(image="busybox", cmd=["true"], network="none"))
    engine.wait(c.id, timeout=30)
    ctr_dir = os.path.join(engine.cfg.data_dir, "containers", c.id)
    with open(os.path.join(ctr_dir, "config.json")) as f:
        cfg = json.load(f)
    bundle = os.path.join(base, "engine-bundle")
    os.makedirs(bundle)
    for m in cfg["mounts"]:
        if m["source"].startswith(ctr_dir + "/"):  # the /etc files: copied beside the bundle
            copy = os.path.join(bundle, os.path.basename(m["source"]))
            shutil.copyfile(m["source"], copy)
            m["source"] = copy
    engine.remove(c.id)
    cfg["root"] = {"path": rootfs, "readonly": True}
    cfg["linux"]["namespaces"] = [
        ns if ns["type"] != "network" else {"type": "network"} for ns in cfg["linux"]["namespaces"]
    ]
    cfg["linux"]["cgroupsPath"] = f"/{engine.cfg.cgroup_parent}/runc-bundle"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def bench_runc(bundle: str, count: int, root: str) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        # A foreground `runc run` creates, starts, waits for and deletes the container.
        subprocess.run(
            ["runc", "--root", root, "run", "--bundle", bundle, f"bench-{i}"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return times


def bench_runc_split(bundle: str, count: int, root: str) -> list[float]:
    """create + start + delete as separate runs: the protocol a monitor like conmon needs (the floor)."""
    times = []
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for i in range(count):
        start = time.perf_counter()
        subprocess.run(["runc", "--root", root, "create", "--bundle", bundle, f"split-{i}"], check=True, **quiet)
        subprocess.run(["runc", "--root", root, "start", f"split-{i}"], check=True, **quiet)
        while subprocess.run(["runc", "--root", root, "delete", f"split-{i}"], **quiet).returncode != 0:
            time.sleep(0.001)  # `true` is still exiting
        times.append(time.perf_counter() - start)
    return times


def bench_engine(engine: Engine, count: int, network: str) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        c = engine.run(pb.ContainerSpec(image="busybox", cmd=["true"], network=network))
        engine.wait(c.id, timeout=30)
        engine.remove(c.id)
        times.append(time.perf_counter() - start)
    return times


def bench_daemon(run_dir: str, count: int) -> list[float]:
    from svc.client import EngineClient
    from svc.v1 import engine_pb2 as epb

    client = EngineClient(os.path.join(run_dir, "engine.sock"))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        info = client.CreateContainer(
            epb.CreateContainerRequest(spec=pb.ContainerSpec(image="busybox", cmd=["true"], network="none"))
        )
        client.StartContainer(epb.ContainerRef(id=info.id))
        client.WaitContainer(epb.ContainerRef(id=info.id))
        client.RemoveContainer(epb.RemoveContainerRequest(id=info.id))
        times.append(time.perf_counter() - start)
    client.close()
    return times


def pss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_full_info().pss)
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
        return 0


def bench_memory(engine: Engine, count: int) -> dict[str, float]:
    me = os.getpid()
    before = pss(me)
    ids = [
        engine.run(pb.ContainerSpec(image="busybox", cmd=["sleep", "1000"], network="none")).id for _ in range(count)
    ]
    time.sleep(1)
    daemon_delta = pss(me) - before
    conmons = [engine.get(cid).conmon_pid for cid in ids]
    conmon_pss = sum(pss(p) for p in conmons)
    conmon_rss = sum(psutil.Process(p).memory_info().rss for p in conmons)
    for cid in ids:
        engine.remove(cid, force=True)
    mib = 1024 * 1024
    return {
        "containers": count,
        "daemon_pss_per_container_mib": daemon_delta / count / mib,
        "conmon_pss_per_container_mib": conmon_pss / count / mib,
        "conmon_rss_per_container_mib": conmon_rss / count / mib,
        "total_pss_per_container_mib": (daemon_delta + conmon_pss) / count / mib,
    }


def summary(times: list[float]) -> dict[str, float]:
    return {
        "n": len(times),
        "mean_ms": 1000 * statistics.mean(times),
        "median_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * sorted(times)[int(0.95 * (len(times) - 1))],
        "total_s": sum(times),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--idle", type=int, default=50, help="running containers for the memory figure")
    p.add_argument("--json", help="also write results here")
    args = p.parse_args()
    from helpers import delete_bridge
    from imagebuild import write_rootfs_tar

    base = tempfile.mkdtemp(prefix="svc-bench-")
    tag = str(os.getpid() % 10000)
    # The same layout `svcd node --data-dir base/data --run-dir base/run` uses, so the daemon row shares the store.
    cfg = EngineConfig(
        data_dir=os.path.join(base, "data", "node"),
        run_dir=os.path.join(base, "run", "engine"),
        cgroup_parent=f"svc-bench-{tag}",
        bridge=f"svbench{tag}"[:15],
        subnet="10.199.0.0/16",
    )
    results: dict[str, Any] = {"count": args.count}
    engine = Engine(cfg)
    daemon = None
    try:
        image = write_rootfs_tar(os.path.join(base, "busybox.tar"))
        [rec] = engine.import_image(image, "busybox")
        rootfs = engine.images.layer_dirs(rec.id)[0]
        bundle = runc_bundle(rootfs, base)
        bench_engine(engine, 5, "none")  # warm up caches
        same = engine_bundle(engine, rootfs, base)
        runc_root = os.path.join(base, "runc-root")
        results["runc"] = summary(bench_runc(bundle, args.count, runc_root))
        results["runc_same"] = summary(bench_runc(same, args.count, runc_root))
        results["runc_split"] = summary(bench_runc_split(same, args.count, runc_root))
        results["engine_none"] = summary(bench_engine(engine, args.count, "none"))
        results["engine_bridge"] = summary(bench_engine(engine, args.count, "bridge"))
        results["memory"] = bench_memory(engine, args.idle)
        engine.close()
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "svcd",
                "node",
                "--data-dir",
                os.path.join(base, "data"),
                "--run-dir",
                os.path.join(base, "run"),
                "--cgroup-parent",
                cfg.cgroup_parent,
                "--bridge",
                cfg.bridge,
                "--subnet",
                cfg.subnet,
                "--metrics-addr",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=os.path.dirname(HERE),
        )
        sock = os.path.join(base, "run", "engine.sock")
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        results["daemon_none"] = summary(bench_daemon(os.path.join(base, "run"), args.count))
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(10)
        delete_bridge(cfg.bridge)  # with its MASQUERADE rule and FORWARD chain, as the tests' teardown does
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, cfg.cgroup_parent))
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)
    floor = results["runc_same"]["mean_ms"]
    plain = results["runc"]["mean_ms"]
    print(f"{'what':<44} {'mean ms':>9} {'median':>8} {'p95':>8} {'x same':>7} {'x spec':>7}")
    for key, label in (
        ("runc", "runc run, runc spec's bundle"),
        ("runc_same", "runc run, the engine's bundle"),
        ("runc_split", "runc create + start + delete, engine's"),
        ("engine_none", "engine, --network none"),
        ("engine_bridge", "engine, --network bridge"),
        ("daemon_none", "engine via svcd node API, network none"),
    ):
        r = results[key]
        print(
            f"{label:<44} {r['mean_ms']:>9.1f} {r['median_ms']:>8.1f} {r['p95_ms']:>8.1f}"
            f" {r['mean_ms'] / floor:>7.2f} {r['mean_ms'] / plain:>7.2f}"
        )
    m = results["memory"]
    print(
        f"memory per running container ({m['containers']} running): daemon {m['daemon_pss_per_container_mib']:.2f} "
        f"MiB + conmon {m['conmon_pss_per_container_mib']:.2f} MiB PSS = {m['total_pss_per_container_mib']:.2f} MiB "
        f"(conmon RSS {m['conmon_rss_per_container_mib']:.2f} MiB)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
