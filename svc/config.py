"""Daemon settings: command-line flags over environment (SVC_*) over the TOML file over defaults.

The file (`/etc/svc/config.toml`, or `--config`) has top-level keys for every daemon and
`[node]` / `[manager]` tables for one role; keys are the long option names with '_'.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

from svc import defaults
from svc.errors import InvalidArgument


def load_file(path: str | None, section: str) -> dict[str, Any]:
    explicit = path is not None
    path = path or defaults.CONFIG_FILE
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        if explicit:
            raise InvalidArgument(f"config file {path} does not exist") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"config file {path}: {exc}") from None
    merged = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    merged.update(doc.get(section) or {})
    return merged


def resolve(
    given: dict[str, Any],
    fallbacks: dict[str, Any],
    section: str,
    path: str | None,
    environ: dict[str, str] | None = None,
) -> dict[str, Any]:
    """For every option, the first of: flag given, SVC_<NAME> in the environment, file, fallback."""
    env = os.environ if environ is None else environ
    file_values = load_file(path, section)
    out: dict[str, Any] = {}
    for name, fallback in fallbacks.items():
        value = given.get(name)
        if value is None or value == []:
            env_value = env.get("SVC_" + name.upper())
            if env_value is not None:
                value = env_value.split(",") if isinstance(fallback, list) else env_value
            elif name in file_values:
                value = file_values[name]
            else:
                value = fallback
        if isinstance(fallback, bool) and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        out[name] = value
    unknown = set(file_values) - set(fallbacks)
    if unknown:
        raise InvalidArgument(f"config file: unknown setting(s) {', '.join(sorted(unknown))}")
    return out
