"""A token service's answer, and the OAuth2 refresh-token grant an identity token is spent through.

Rule: an identity token (Docker's `"Username": "<token>"`, or `identitytoken` in config.json) is an OAuth2
refresh token, never a password: it is only ever POSTed to the Bearer challenge's realm as the form
`grant_type=refresh_token&refresh_token=…&service=…&scope=…&client_id=svc` (the distribution token spec,
"oauth.md"), and the `access_token` (or `token`) of the JSON answer is the bearer token. It is never sent
as basic auth, and a token service that does not take the grant (404/405 to the POST) is an error, not a
fall-back to the GET with basic auth. Every failure is one line naming the registry.

An answer's `refresh_token` is kept: at login (the GET asks `offline_token=true`, as docker login does) it
becomes the identity token stored instead of the password; from a refresh grant that rotates it, it
replaces the one spent (the client writes it back where it came from: client.py).
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple

import httpx

from svc.dockerconfig import TOKEN_USER
from svc.errors import RuntimeFailure, Unauthenticated, Unavailable

CLIENT_ID = "svc"

__all__ = ["CLIENT_ID", "TOKEN_USER", "Token", "is_identity_token", "refresh_grant", "token_answer"]


class Token(NamedTuple):
    """A token service's answer: the Authorization value, its monotonic expiry, and the `refresh_token` it
    gave ("" for none): asked for at login (`offline_token=true`), or rotated in by a refresh grant."""

    header: str
    expiry: float
    refresh: str = ""


def is_identity_token(creds: tuple[str, str] | None) -> bool:
    return creds is not None and creds[0] == TOKEN_USER


def token_answer(resp: httpx.Response, host: str) -> Token:
    """From a token service's 200 JSON answer: `token` or `access_token`, `expires_in`, `refresh_token`."""
    try:
        doc = resp.json()
        token = doc.get("token") or doc.get("access_token")
        expires = float(doc.get("expires_in") or 60)
        refresh = doc.get("refresh_token") or ""
    except (ValueError, AttributeError, TypeError) as exc:
        raise RuntimeFailure(f"registry {host}: the token service's answer is not a token") from exc
    if not isinstance(token, str) or not token:
        raise RuntimeFailure(f"registry {host}: the token service's answer has no token")
    return Token("Bearer " + token, time.monotonic() + max(expires - 5, 1), refresh if isinstance(refresh, str) else "")


def _oauth_error(resp: httpx.Response) -> str:
    """RFC 6749's `{"error", "error_description"}`, distribution's `{"errors": [{"message"}]}`, or a line."""
    try:
        doc = json.loads(resp.read()[:65536])
    except (ValueError, httpx.HTTPError):
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("error"), str):
            desc = doc.get("error_description")
            return f"{doc['error']}: {desc}" if isinstance(desc, str) and desc else doc["error"]
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
            return str(errors[0]["message"])
    try:
        lines = resp.text.strip().splitlines()
    except httpx.HTTPError:
        lines = []
    return lines[0][:200] if lines else resp.reason_phrase or f"HTTP {resp.status_code}"


def refresh_grant(
    http: httpx.Client, host: str, realm: str, service: str, scopes: list[str], refresh_token: str
) -> Token:
    """Trade the identity token for a bearer token for `scopes` at `realm`; the answer's `refresh` is the
    identity token to keep from now on when the token service rotates it (else "" or the same)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    if service:
        form["service"] = service
    if scopes:
        form["scope"] = " ".join(scopes)
    try:
        r = http.post(realm, data=form)
    except httpx.HTTPError as exc:
        raise Unavailable(f"token service {realm} unreachable: {exc}") from exc
    if r.status_code in (400, 401, 403):
        raise Unauthenticated(f"registry {host}: its token service refused the identity token: {_oauth_error(r)}")
    if r.status_code in (404, 405):
        raise RuntimeFailure(
            f"registry {host}: its token service {realm} takes no identity token (the OAuth2 POST answered"
            f" {r.status_code}); log in with a password (svc login {host})"
        )
    if r.status_code != 200:
        raise RuntimeFailure(f"registry {host}: token service answered {r.status_code}")
    return token_answer(r, host)
