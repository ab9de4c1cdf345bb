"""Registry authentication: challenges, tokens and credentials as Docker keeps them.

Credentials come from Docker's `config.json` format, `{"auths": {"host": {"auth": base64("user:pass")}}}`;
a node reads its own file (see `registry.settings`) and `~/.docker/config.json`.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field

_PARAM = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # bearer | basic (lowercase)
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a `WWW-Authenticate` value: `Bearer realm="...",service="...",scope="..."` or `Basic realm=...`."""
    out: list[Challenge] = []
    pos, text = 0, header.strip()
    while pos < len(text):
        m = re.match(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)", text[pos:])
        if not m:
            break
        scheme = m.group(1).lower()
        pos += m.end()
        params: dict[str, str] = {}
        while True:
            pm = _PARAM.match(text, pos)
            if not pm:
                break
            # A new scheme starts where a token is not followed by '='.
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
        out.append(Challenge(scheme, params))
    return out


def _config_paths(extra: tuple[str, ...]) -> list[str]:
    paths = list(extra)
    docker_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    paths.append(os.path.join(docker_dir, "config.json"))
    return paths


def _host_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys += ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    return keys


def credentials(host: str, config_files: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(user, password) for a registry host from the first config file that has it, else None."""
    for path in _config_paths(config_files):
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            continue
        for key in _host_keys(host):
            entry = auths.get(key)
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("auth"), str):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    continue
                return user, password
            if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
                return entry["username"], entry["password"]
    return None


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
