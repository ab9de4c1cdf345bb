"""Helpers shared by the benchmarks: real clusters from the tests' harness, outside pytest."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from harness import Cluster  # noqa: E402
from imagebuild import write_rootfs_tar  # noqa: E402


@contextlib.contextmanager
def cluster(netns: bool = False, heartbeat: float = 1.0) -> Iterator[Any]:
    """A Cluster in a scratch directory; torn down (and checked) on exit."""
    base = tempfile.mkdtemp(prefix="svc-bench-")
    tag = f"b{os.getpid() % 1000}"
    net = None
    if netns:
        from netns import TestNet

        net = TestNet(tag=tag, subnet=f"10.{240 + os.getpid() % 10}.{os.getpid() % 200 + 20}.0/24")
    c = Cluster(base, tag, heartbeat=heartbeat, net=net)
    c.busybox = write_rootfs_tar(os.path.join(base, "busybox.tar"))  # type: ignore[attr-defined]
    try:
        yield c
    except BaseException:
        print(c.logs(), file=sys.stderr)
        raise
    finally:
        left = c.teardown()
        if left:
            print(f"warning: left behind: {left}", file=sys.stderr)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
