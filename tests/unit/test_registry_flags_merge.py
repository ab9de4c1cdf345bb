"""svcd's --insecure-registry / --registry-mirror (and the image GC thresholds): checked at start-up, merged
with registries.json at every read."""

from __future__ import annotations

import json
import os
import re

import pytest

from svc.errors import InvalidArgument
from svc.registry import settings
from svcd import main as svcd_main
from svcd import options


def _parse(argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    for k in [k for k in os.environ if k.startswith("SVC_")]:
        monkeypatch.delenv(k)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    role, *rest = argv
    return options.settings(options.parser().parse_args([role, "--config", str(empty), *rest]))


@pytest.mark.parametrize("role", ["node", "manager", "up"])
def test_every_daemon_takes_repeatable_registry_flags(role: str, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = _parse(
        [
            role,
            "--insecure-registry",
            "127.0.0.1:5000",
            "--insecure-registry",
            "registry.lan",
            "--insecure-registry",
            "[::1]:5000",
            "--registry-mirror",
            "https://mirror.example:5000/",
        ],
        monkeypatch,
        tmp_path,
    )
    assert s["insecure_registries"] == ["127.0.0.1:5000", "registry.lan", "[::1]:5000"]
    assert s["registry_mirrors"] == ["https://mirror.example:5000"]


def test_no_flags_no_entries(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = _parse(["node"], monkeypatch, tmp_path)
    assert s["insecure_registries"] == [] and s["registry_mirrors"] == []
    assert (s["image_gc_high_threshold"], s["image_gc_low_threshold"]) == (85.0, 80.0)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--insecure-registry", "http://127.0.0.1:5000", "without a scheme"),
        ("--insecure-registry", "127.0.0.1:99999", "not a HOST[:PORT]"),
        ("--insecure-registry", "bad_host:5000", "not a HOST[:PORT]"),
        ("--insecure-registry", "host:", "not a HOST[:PORT]"),
        ("--registry-mirror", "mirror.example", "needs http:// or https://"),
        ("--registry-mirror", "ftp://mirror.example", "needs http:// or https://"),
        ("--registry-mirror", "https://user:pw@mirror.example", "not a URL of a registry host"),
        ("--registry-mirror", "https://mirror.example/v2/", "no path, query or fragment"),
        ("--registry-mirror", "https://", "not a URL of a registry host"),
    ],
)
def test_bad_values_are_refused_at_start_up(flag: str, value: str, message: str, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        _parse(["node", flag, value], monkeypatch, tmp_path)


def test_bad_gc_thresholds_are_refused(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    args = ["node", "--image-gc-high-threshold", "70", "--image-gc-low-threshold", "75"]
    with pytest.raises(InvalidArgument, match="must be below the high threshold"):
        _parse(args, monkeypatch, tmp_path)
    with pytest.raises(InvalidArgument, match="between 0 and 100"):
        _parse(["node", "--image-gc-high-threshold", "150"], monkeypatch, tmp_path)


def test_the_daemon_exits_with_one_line(monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    for k in [k for k in os.environ if k.startswith("SVC_")]:
        monkeypatch.delenv(k)
    data = tmp_path / "data"
    code = svcd_main.main(["node", "--data-dir", str(data), "--registry-mirror", "mirror.example"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("svcd: --registry-mirror 'mirror.example'")
    assert not data.exists()  # nothing made


def test_flags_come_first_then_the_file_without_repeats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / settings.FILE_NAME
    path.write_text(
        json.dumps({"insecure-registries": ["a:5000", "b:5000"], "registry-mirrors": ["https://m2", "https://m1"]})
    )
    flags = settings.RegistrySettings(insecure=("b:5000", "c"), mirrors=("https://m1",))
    merged = settings.load(str(path), flags)
    assert merged.insecure == ("b:5000", "c", "a:5000")
    assert merged.mirrors == ("https://m1", "https://m2")
    assert merged.is_insecure("a:5000") and merged.is_insecure("c")


def test_without_a_file_the_flags_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flags = settings.RegistrySettings(insecure=("c",), mirrors=("https://m1",))
    merged = settings.load(str(tmp_path / "missing.json"), flags)
    assert (merged.insecure, merged.mirrors) == (("c",), ("https://m1",))


def test_the_file_is_read_at_every_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / settings.FILE_NAME
    flags = settings.RegistrySettings(insecure=("c",))
    assert settings.load(str(path), flags).insecure == ("c",)
    path.write_text(json.dumps({"insecure-registries": ["new:5000"]}))
    assert settings.load(str(path), flags).insecure == ("c", "new:5000")


def test_the_manager_pins_with_its_flags(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from manager.imagepin import ImagePinner

    pinner = ImagePinner(str(tmp_path), ["127.0.0.1:5000"], ["https://m1"])
    assert settings.load(pinner.settings_path, pinner.flags).base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
