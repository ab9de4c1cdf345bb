"""`svc --version` and `svc version` (issue #16: both were missing)."""

from __future__ import annotations

import pytest

from svc import defaults
from svc.cli.main import main


def test_dash_dash_version(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"svc version {defaults.VERSION}\n"


def test_version_without_a_manager(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SVC_RUN_DIR", "/nonexistent")
    monkeypatch.delenv("SVC_HOST", raising=False)
    assert main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Client:\n Version: {defaults.VERSION}\nServer: none (")
