"""Unpack one layer alone (node/engine/layers.unpack_layer): wall time and the thread's user and system CPU.

Two layers, built here: busybox (~400 entries) plus 17 MiB of random data, as the registry benchmark's first
layer, and 5,000 small files (0.1-8 KB). Every run's directory is kept until the end: on an ext4 without a
journal, deleting inodes slows the next creations (see docs/benchmarks.md).

    sudo /opt/svc/venv/bin/python bench/unpack_bench.py --runs 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def layers_to_unpack() -> dict[str, bytes]:
    from imagebuild import Entry, busybox_entries, tar_bytes

    rng = random.Random(1)
    small = [Entry("d", kind="dir", mode=0o755)]
    small += [Entry(f"d/f{i}", rng.randbytes(rng.randint(100, 8000))) for i in range(5000)]
    return {
        "busybox+17MiB": tar_bytes([*busybox_entries(), Entry("data0", os.urandom(17 << 20))], compress=True),
        "5000 files": tar_bytes(small, compress=True),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/var/tmp", help="unpack under this directory (a tmpfs: no disk effects)")
    args = ap.parse_args()
    from node.engine.layers import unpack_layer

    base = tempfile.mkdtemp(prefix="svc-unpack-bench-", dir=args.dir)
    result: dict[str, dict[str, float]] = {}
    try:
        for name, blob in layers_to_unpack().items():
            wall, user, system = [], [], []
            for _ in range(args.runs):
                dest = tempfile.mkdtemp(dir=base)
                before, t = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
                unpack_layer(io.BytesIO(blob), dest)
                after = resource.getrusage(resource.RUSAGE_THREAD)
                wall.append(time.perf_counter() - t)
                user.append(after.ru_utime - before.ru_utime)
                system.append(after.ru_stime - before.ru_stime)
            result[name] = {
                "wall_ms": round(statistics.median(wall) * 1000, 1),
                "user_ms": round(statistics.median(user) * 1000, 1),
                "sys_ms": round(statistics.median(system) * 1000, 1),
            }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
