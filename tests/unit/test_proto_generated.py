"""The checked-in generated modules must match proto/ exactly."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys

import pytest
from helpers import REPO


def test_generated_code_matches_proto_sources(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("grpc_tools")
    subprocess.run(
        ["bash", os.path.join(REPO, "tools", "genproto.sh"), str(tmp_path)],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    generated = os.path.join(tmp_path, "svc", "v1")
    checked_in = os.path.join(REPO, "svc", "v1")
    names = sorted(n for n in os.listdir(generated) if n.endswith((".py", ".pyi")))
    assert names == sorted(n for n in os.listdir(checked_in) if n.endswith((".py", ".pyi")))
    stale = [
        n for n in names if not filecmp.cmp(os.path.join(generated, n), os.path.join(checked_in, n), shallow=False)
    ]
    assert not stale, f"regenerate with tools/genproto.sh: {stale}"
