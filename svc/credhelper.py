"""Docker credential helpers: `docker-credential-NAME get|store|erase`, as Docker's CLI runs them.

The protocol (docker/docker-credential-helpers): `get` reads the server on stdin and prints
`{"ServerURL", "Username", "Secret"}`; `store` reads that JSON on stdin; `erase` reads the server.
A helper that does not know the server says so on stdout (`credentials not found in native keychain`)
and exits non-zero: that is "no credentials", not an error. Anything else that goes wrong (no such
helper on PATH, a crash, output that is not that JSON, a helper that hangs) is one line naming the
helper. Secrets travel only through the helper's stdin and stdout, never its arguments or environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from svc.errors import InvalidArgument

TIMEOUT_SECONDS = 30.0
_NOT_FOUND = "credentials not found in native keychain"


def program(name: str) -> str:
    return f"docker-credential-{name}"


def _run(name: str, action: str, stdin: str) -> tuple[int, str]:
    prog = program(name)
    path = shutil.which(prog)
    if path is None:
        raise InvalidArgument(f"credential helper {prog} is not on PATH (named by credsStore/credHelpers)")
    try:
        r = subprocess.run([path, action], input=stdin, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise InvalidArgument(f"credential helper {prog} {action}: no answer in {TIMEOUT_SECONDS:g}s") from None
    except OSError as exc:
        raise InvalidArgument(f"credential helper {prog} {action}: {exc.strerror or exc}") from None
    return r.returncode, (r.stdout.strip() or r.stderr.strip())


def _failed(name: str, action: str, out: str) -> InvalidArgument:
    first = out.splitlines()[0] if out else "failed"
    return InvalidArgument(f"credential helper {program(name)} {action}: {first}")


def get(name: str, server: str) -> tuple[str, str] | None:
    """(user, secret) the helper keeps for `server`, or None if it keeps none."""
    code, out = _run(name, "get", server)
    if code != 0:
        if _NOT_FOUND in out:
            return None
        raise _failed(name, "get", out)
    try:
        doc = json.loads(out)
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f"credential helper {program(name)} get: its answer is not credentials JSON") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise InvalidArgument(f"credential helper {program(name)} get: Username and Secret must be strings")
    if not secret:
        return None
    return user, secret


def store(name: str, server: str, user: str, secret: str) -> None:
    code, out = _run(name, "store", json.dumps({"ServerURL": server, "Username": user, "Secret": secret}))
    if code != 0:
        raise _failed(name, "store", out)


def erase(name: str, server: str) -> bool:
    """Forget `server`'s credentials; False if the helper kept none."""
    code, out = _run(name, "erase", server)
    if code != 0:
        if _NOT_FOUND in out:
            return False
        raise _failed(name, "erase", out)
    return True
