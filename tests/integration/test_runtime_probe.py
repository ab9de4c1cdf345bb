"""The runtime probe (node/engine/runtime.py) runs a real container to find whether runc or crun works
here, and leaves no cgroup behind in any hierarchy (it once left a `/svc-probe` parent on every host)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pytest

from node.engine.runtime import RuncFamily

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _probe_cgroups() -> list[str]:
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs if d.startswith("svc-probe")]
        dirs[:] = [] if root.count("/") > 4 else dirs  # the top levels are enough
    return found


@pytest.mark.parametrize("name", ["runc", "crun"])
def test_the_probe_leaves_no_cgroup(name: str) -> None:
    binary = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if binary is None:
        pytest.skip(f"{name} is not installed")
    before = _probe_cgroups()
    state = tempfile.mkdtemp(prefix="svc-probe-state-")
    try:
        conmon: Any = None  # the probe runs the runtime directly
        RuncFamily(name, binary, state, conmon).probe()
    finally:
        shutil.rmtree(state, ignore_errors=True)
    assert _probe_cgroups() == before
