"""Registry credentials kept as Docker keeps them: `config.json` with `{"auths": {"HOST": {"auth": ...}}}`.

`svc login` writes `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), mode 0600, replaced
atomically, keeping every other key of the file (a Docker CLI's settings survive). The value of `auth` is
base64("user:password"), as Docker writes it.

Credential helpers, as Docker's CLI uses them: `credHelpers` (`{"HOST": "NAME"}`) names the helper for one
registry, `credsStore` (`"NAME"`) for every other; the secret then lives in `docker-credential-NAME`
(svc/credhelper.py), and `svc login` writes only an empty `auths` entry for the host (as Docker does).
A lookup asks a file's helper first, then that file's `auths`. An identity token (an OAuth2 refresh token)
is Docker's credentials `("<token>", TOKEN)`: a helper's `"Username": "<token>"`, or an `auths` entry's
`"identitytoken"` (before its `auth`); the registry client spends it only through the refresh grant
(svc/registry/oauth.py), and `store` of `<token>` credentials writes `identitytoken`, as Docker does.
`svc login` stores the identity token a token service gives at login instead of the password; one a token
service rotates in is written back where the lookup found the old one (`rotate`).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from typing import Any

from svc import credhelper
from svc.errors import InvalidArgument

TOKEN_USER = "<token>"  # the user name that makes the secret an identity token (Docker's convention)
DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # the key Docker uses for Docker Hub
_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


def default_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def key_for(host: str) -> str:
    return DOCKER_HUB_KEY if host in _HUB_HOSTS else host


def _lookup_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in _HUB_HOSTS:
        keys += [DOCKER_HUB_KEY, *_HUB_HOSTS]
    return keys


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: must be a JSON object")
    return doc


def helper_for(doc: dict[str, Any], host: str) -> str:
    """The credential helper a config names for `host` ('' for none): credHelpers first, then credsStore."""
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        for key in (host, key_for(host)):
            name = helpers.get(key)
            if isinstance(name, str) and name:
                return name
    store = doc.get("credsStore")
    return store if isinstance(store, str) else ""


def credentials(host: str, paths: list[str] | tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(user, password) for a registry host from the first file that has it (its helper, then its auths);
    `(TOKEN_USER, token)` for an identity token."""
    found = _find(host, paths)
    return found[0] if found is not None else None


def _find(host: str, paths: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], str, str, str] | None:
    """(credentials, file, helper, auths key) where the lookup finds them: helper "" for an auths entry,
    key "" for a helper's."""
    for path in [*paths, default_path()]:
        try:
            doc = _load(path)
        except InvalidArgument:
            continue
        helper = helper_for(doc, host)
        if helper:
            found = credhelper.get(helper, key_for(host))
            if found is not None:
                return found, path, helper, ""
        auths = doc.get("auths")
        if not isinstance(auths, dict):
            continue
        for key in _lookup_keys(host):
            entry = auths.get(key)
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
                return (TOKEN_USER, entry["identitytoken"]), path, "", key
            if isinstance(entry.get("auth"), str) and entry["auth"]:
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    continue
                return (user, password), path, "", key
            if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
                return (entry["username"], entry["password"]), path, "", key
    return None


def rotate(host: str, old: str, new: str, paths: list[str] | tuple[str, ...] = ()) -> str:
    """A token service rotated the identity token `old` for `host` into `new`: keep `new` where the lookup
    finds `old` (that helper, or that file's auths entry, its other keys kept); returns where, or "" when
    the lookup no longer finds `old` (a newer login since: left alone)."""
    found = _find(host, paths)
    if found is None or found[0] != (TOKEN_USER, old):
        return ""
    _, path, helper, key = found
    if helper:
        credhelper.store(helper, key_for(host), TOKEN_USER, new)
        return credhelper.program(helper)
    doc = _load(path)
    auths = doc.get("auths")
    entry = auths.get(key) if isinstance(auths, dict) else None
    if not isinstance(entry, dict) or entry.get("identitytoken") != old:
        return ""  # changed since it was read
    entry["identitytoken"] = new
    _write(path, doc)
    return path


def _write(path: str, doc: dict[str, Any]) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(doc, f, indent="\t")
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def store(host: str, user: str, password: str, path: str | None = None) -> str:
    """Keep credentials for `host` (in the config's helper, if it names one); returns where they went."""
    path = path or default_path()
    doc = _load(path)
    auths = doc.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise InvalidArgument(f"{path}: auths must be an object")
    helper = helper_for(doc, host)
    if helper:
        credhelper.store(helper, key_for(host), user, password)
        for k in _lookup_keys(host):  # no copy of an older secret stays beside the helper's
            auths.pop(k, None)
        auths[key_for(host)] = {}
        _write(path, doc)
        return credhelper.program(helper)
    for k in _lookup_keys(host):  # an older secret under another of the host's keys may be found first
        auths.pop(k, None)
    if user == TOKEN_USER:
        auths[key_for(host)] = {"identitytoken": password}
    else:
        auths[key_for(host)] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, doc)
    return path


def erase(host: str, path: str | None = None) -> bool:
    """Forget the credentials for `host`; False if there were none."""
    path = path or default_path()
    doc = _load(path)
    helper = helper_for(doc, host)
    in_helper = credhelper.erase(helper, key_for(host)) if helper else False
    auths = doc.get("auths")
    if not isinstance(auths, dict):
        return in_helper
    found = [k for k in _lookup_keys(host) if k in auths]
    for k in found:
        del auths[k]
    if found:
        _write(path, doc)
    return in_helper or bool(found)
