"""Pull from a loopback registry: svc's client against `skopeo copy` to an OCI directory, in one run.

    sudo python3 bench/registry_bench.py [--mb 50] [--layers 3] [--runs 3] [--json out.json] [--svc-only]

The image: `--layers` layers of random (incompressible) data, gzip-compressed, `--mb` MB in all, pushed
with skopeo into the CNCF registry (Debian's docker-registry) on 127.0.0.1, plain HTTP. Each run pulls into
an empty store (svc: download, verify, fsync, unpack; skopeo: download, verify, write an OCI layout, no
unpacking) and the median is reported. Target (issue #13): svc within 1.2x of skopeo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(base: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = os.path.join(base, "registry.yml")
    with open(config, "w") as f:
        f.write(
            "version: 0.1\nlog:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {base}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n"
        )
    proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("docker-registry did not start")


def build_image(path: str, mb: int, layers: int) -> None:
    from imagebuild import Entry, ImageSpec, busybox_entries, write_oci_layout

    each = mb * (1 << 20) // layers
    spec_layers = [[*busybox_entries(), Entry("data0", os.urandom(each))]]
    spec_layers += [[Entry(f"data{i}", os.urandom(each))] for i in range(1, layers)]
    write_oci_layout(path, ImageSpec(layers=spec_layers, tag="bench:1"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default="")
    ap.add_argument("--svc-only", action="store_true", help="no skopeo runs (to profile svc's pull with py-spy)")
    args = ap.parse_args()
    from node.engine.images import ImageStore
    from node.engine.registry import pull
    from svc.registry import settings

    base = tempfile.mkdtemp(prefix="svc-registry-bench-")
    proc, host = start_registry(base)
    try:
        archive = os.path.join(base, "image.tar")
        build_image(archive, args.mb, args.layers)
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{archive}", f"docker://{host}/bench:1"],
            check=True,
        )
        cfg = settings.RegistrySettings(insecure=(host,))
        svc_times, skopeo_times = [], []
        for i in range(args.runs):
            store_dir = os.path.join(base, f"store{i}")
            t = time.perf_counter()
            pull.pull(ImageStore(store_dir), f"{host}/bench:1", cfg)
            svc_times.append(time.perf_counter() - t)
            # Each run's files stay until the end: on an ext4 without a journal (this VM's root), a new
            # inode is not given a number freed in the last 60-300 s, and the search past each one costs
            # kernel time, so deleting a run's ~400 inodes slowed every later run's busybox layer.
            if args.svc_only:
                continue
            oci_dir = os.path.join(base, f"oci{i}")
            t = time.perf_counter()
            subprocess.run(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{host}/bench:1", f"oci:{oci_dir}:bench"],
                check=True,
            )
            skopeo_times.append(time.perf_counter() - t)
        result = {
            "image_mb": args.mb,
            "layers": args.layers,
            "runs": args.runs,
            "svc_pull_s": round(statistics.median(svc_times), 3),
            "svc_runs_s": [round(t, 3) for t in svc_times],
        }
        if skopeo_times:
            result["skopeo_copy_s"] = round(statistics.median(skopeo_times), 3)
            result["skopeo_runs_s"] = [round(t, 3) for t in skopeo_times]
            result["ratio"] = round(result["svc_pull_s"] / result["skopeo_copy_s"], 2)
        print(json.dumps(result, indent=2))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
