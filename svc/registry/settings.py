"""The node's registry settings, in the shape of dockerd's daemon.json.

`<engine data dir>/registries.json` (read at every pull, so a change needs no restart):

    {"insecure-registries": ["127.0.0.1:5000"], "registry-mirrors": ["https://mirror.example:5000"],
     "auth-config": "/root/.docker/config.json"}

Plain HTTP is used only for a registry listed in `insecure-registries` (host[:port]); mirrors are tried,
in order, before Docker Hub and only for Docker Hub images, as dockerd does. A registry with a private CA:
put its CA certificate in `<engine data dir>/certs.d/<host[:port]>/ca.crt` (`certs-dir` moves it), and a
client certificate as `client.cert` / `client.key` beside it, as in dockerd's `/etc/docker/certs.d`.

The daemons' flags `--insecure-registry HOST[:PORT]` and `--registry-mirror URL` (repeatable, as dockerd's)
are checked once at start-up (`insecure_flags`, `mirror_flags`: a bad value stops the daemon with one
line) and merged with the file at every read: the flags' entries first, then the file's, without repeats.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

from svc.errors import InvalidArgument

FILE_NAME = "registries.json"


@dataclass(frozen=True)
class RegistrySettings:
    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    config_files: tuple[str, ...] = ()  # docker config.json files with credentials, besides ~/.docker/
    certs_dir: str = ""  # certs.d: <dir>/<host[:port]>/*.crt are CAs for that registry; client.cert/.key

    def tls(self, host: str) -> ssl.SSLContext | bool:
        """How to verify `host`'s certificate: the system's CAs, plus `certs.d/<host>/*.crt` (as dockerd)."""
        d = os.path.join(self.certs_dir, host) if self.certs_dir else ""
        if not d or not os.path.isdir(d):
            return True
        ctx = ssl.create_default_context()
        for name in sorted(os.listdir(d)):
            if name.endswith(".crt"):
                try:
                    ctx.load_verify_locations(os.path.join(d, name))
                except (OSError, ssl.SSLError) as exc:
                    raise InvalidArgument(f"{os.path.join(d, name)}: not a usable CA certificate ({exc})") from exc
        cert, key = os.path.join(d, "client.cert"), os.path.join(d, "client.key")
        if os.path.isfile(cert) and os.path.isfile(key):
            try:
                ctx.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise InvalidArgument(f"{cert}: not a usable client certificate ({exc})") from exc
        return ctx

    def is_insecure(self, host: str) -> bool:
        return host in self.insecure

    def base_url(self, host: str) -> str:
        return f"{'http' if self.is_insecure(host) else 'https'}://{host}"


def _strings(doc: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(f"{path}: {key} must be a list of strings")
    return tuple(v.rstrip("/") for v in value)


def load(path: str, flags: RegistrySettings | None = None) -> RegistrySettings:
    """The file's settings, with the daemon's flags (`flags.insecure`, `flags.mirrors`) before its own."""
    found = _load_file(path)
    if flags is None:
        return found
    return RegistrySettings(
        insecure=_union(flags.insecure, found.insecure),
        mirrors=_union(flags.mirrors, found.mirrors),
        config_files=found.config_files,
        certs_dir=found.certs_dir,
    )


def _union(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *then)))


_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")


def _host_port(value: str) -> bool:
    """HOST[:PORT]: a DNS name or IPv4 address, or a bracketed IPv6 address; a port 1-65535."""
    if value.startswith("["):
        host, closed, rest = value[1:].partition("]")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        if not closed or (rest and not rest.startswith(":")):
            return False
        sep, port = rest[:1], rest[1:]
    else:
        host, sep, port = value.partition(":")
        if not host or len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
            return False
    if not sep:
        return True
    return port.isdigit() and 0 < int(port) < 65536


def insecure_flags(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`--insecure-registry` values: HOST[:PORT] each (dockerd refuses a scheme there too)."""
    for v in values:
        if "://" in v:
            raise InvalidArgument(f"--insecure-registry {v}: give HOST[:PORT], without a scheme")
        if not _host_port(v):
            raise InvalidArgument(f"--insecure-registry {v!r}: not a HOST[:PORT]")
    return _union(tuple(values), ())


def mirror_flags(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`--registry-mirror` values: http(s)://HOST[:PORT][/] each, as dockerd's ValidateMirror."""
    out = []
    for v in values:
        u = urllib.parse.urlsplit(v)
        if u.scheme not in ("http", "https"):
            raise InvalidArgument(f"--registry-mirror {v!r}: needs http:// or https://")
        if not u.netloc or u.username or u.password or not _host_port(u.netloc):
            raise InvalidArgument(f"--registry-mirror {v!r}: not a URL of a registry host (http(s)://HOST[:PORT])")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise InvalidArgument(f"--registry-mirror {v!r}: a mirror URL takes no path, query or fragment")
        out.append(v.rstrip("/"))
    return _union(tuple(out), ())


def _load_file(path: str) -> RegistrySettings:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return RegistrySettings()
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: must be a JSON object")
    insecure = tuple(
        h.removeprefix("http://").removeprefix("https://") for h in _strings(doc, "insecure-registries", path)
    )
    mirrors = _strings(doc, "registry-mirrors", path)
    for m in mirrors:
        if not m.startswith(("http://", "https://")):
            raise InvalidArgument(f"{path}: registry mirror {m!r} needs http:// or https://")
    auth = doc.get("auth-config", "")
    if not isinstance(auth, str):
        raise InvalidArgument(f"{path}: auth-config must be a path")
    certs = doc.get("certs-dir", os.path.join(os.path.dirname(os.path.abspath(path)), "certs.d"))
    if not isinstance(certs, str):
        raise InvalidArgument(f"{path}: certs-dir must be a path")
    return RegistrySettings(insecure=insecure, mirrors=mirrors, config_files=(auth,) if auth else (), certs_dir=certs)


def settings_path(data_dir: str) -> str:
    return os.path.join(data_dir, FILE_NAME)
