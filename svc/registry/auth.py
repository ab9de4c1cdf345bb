"""Registry authentication: challenges, tokens and credentials as Docker keeps them.

Credentials come from Docker's `config.json` format, `{"auths": {"host": {"auth": base64("user:pass")}}}`;
a node reads its own file (see `registry.settings`) and `~/.docker/config.json`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from svc import dockerconfig

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


def credentials(host: str, config_files: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(user, password) for a registry host from the node's config files or ~/.docker/config.json."""
    return dockerconfig.credentials(host, config_files)


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
