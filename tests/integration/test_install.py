"""deploy/install.sh decides by what the venv's own `svc` runs, not by what the checkout's directory
makes importable: CI clones into a new directory on every run, and a venv left by an earlier run
holds an editable install of a clone since deleted. install.sh once took that for current (its
`import svc` ran inside the new checkout, which found the checkout's files), so every `svc` and
`svcd` on PATH failed with `No module named 'svc'` — and README's first command with them.

The test builds its own venv and bin dir, so the suite's own install is never touched; the venv
sees the suite's dependencies through a path file and pip runs offline without them.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.root

CHECKOUT = ("pyproject.toml", "README.md", "svc", "svcd", "manager", "node", "deploy")


def _checkout(dest: Path) -> Path:
    dest.mkdir()
    for name in CHECKOUT:
        src = os.path.join(REPO, name)
        if os.path.isdir(src):
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    v = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(v)], check=True, capture_output=True, timeout=120)
    # the suite's setuptools, not the older one ensurepip bundles (it cannot build a wheel offline)
    subprocess.run([str(v / "bin/pip"), "uninstall", "-q", "-y", "setuptools"], capture_output=True, timeout=120)
    (purelib,) = [p for p in Path(v, "lib").glob("python3*/site-packages")]
    deps = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    (purelib / "suite-deps.pth").write_text("\n".join(deps) + "\n")  # dependencies and setuptools
    return v


def _install(checkout: Path, venv: Path, bin_dir: Path, editable: bool) -> str:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SVC_VENV": str(venv),
        "SVC_BIN_DIR": str(bin_dir),
        "SVC_EDITABLE": "1" if editable else "0",
        "PIP_NO_DEPS": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this one inverted: 0 turns isolation off
        "PIP_NO_INDEX": "1",
    }
    r = subprocess.run(["./deploy/install.sh"], cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _runs_from(bin_dir: Path) -> str:
    """Where `svc` on this PATH takes its code from, asked as a user's shell would (from /)."""
    r = subprocess.run(
        [str(bin_dir / "svc"), "--version"],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    python = os.path.join(os.path.dirname(os.path.realpath(bin_dir / "svc")), "python")
    where = subprocess.run(
        [python, "-P", "-c", "import svc, os; print(os.path.realpath(svc.__file__))"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return where.stdout.strip()


def test_editable_install_of_a_deleted_clone_is_replaced(tmp_path: Path, venv: Path) -> None:
    bin_dir = tmp_path / "bin"
    first = _checkout(tmp_path / "ci-run-1")
    _install(first, venv, bin_dir, editable=True)
    assert _runs_from(bin_dir).startswith(str(first) + "/")
    shutil.rmtree(first)

    second = _checkout(tmp_path / "ci-run-2")
    _install(second, venv, bin_dir, editable=True)
    assert _runs_from(bin_dir).startswith(str(second) + "/")
    # and what up.sh does next (install.sh without extras, not editable) keeps that checkout
    _install(second, venv, bin_dir, editable=False)
    assert _runs_from(bin_dir).startswith(str(second) + "/")


def test_a_copy_is_refreshed_when_the_sources_change(tmp_path: Path, venv: Path) -> None:
    bin_dir = tmp_path / "bin"
    checkout = _checkout(tmp_path / "src")
    _install(checkout, venv, bin_dir, editable=False)
    installed = _runs_from(bin_dir)
    assert not installed.startswith(str(checkout) + "/"), installed  # a copy in the venv
    (checkout / "svc" / "install_probe.py").write_text("PROBE = 1\n")
    _install(checkout, venv, bin_dir, editable=False)
    probe = Path(os.path.dirname(installed), "install_probe.py")
    assert probe.exists(), "the changed sources were not installed"
