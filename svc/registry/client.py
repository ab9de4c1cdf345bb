"""HTTP to one registry endpoint (httpx): manifests and blobs, down and up, with bearer-token and basic auth.

Every byte is checked before use: a manifest's size and digest (against the digest asked for, and
`Docker-Content-Digest`), a blob's size as it streams (a blob larger than its descriptor says is cut off at
once) and then its digest. Authorization is never sent on a redirect to another host (httpx drops it).
Uploads follow the distribution spec: HEAD first, a cross-repository mount when asked, then one POST and a
monolithic PUT or PATCH chunks and a closing PUT (always to the newest `Location`); the bytes sent are hashed
as they go and the closing PUT is not made if they do not match the digest; a failed upload is cancelled.
A scope may name several (space-separated), as a push with a mount needs; each is asked of the token service.
An identity token (`<token>` credentials) gets its bearer token by the OAuth2 refresh grant (oauth.py), never
basic auth. A grant that rotates the refresh token: the new one is spent from then on, and written back where
the old one came from (the config file or helper it was read from; credentials given with the request are the
caller's to keep: `rotated`, and `on_rotate` is told at once). A login endpoint (`offline=True`) asks the
token service for a refresh token.

A rotating token service revokes the token spent, so a refresh token is never spent twice in this process:
the grant and the write-back hold a lock for the token's family (its host and the token it was rotated
from first), and every rotation is recorded old -> new; under the lock the newest of the family is spent.
Layers download on several threads sharing one endpoint, and two pulls on a node read the same token from
the config: when their bearer token expires together, the first thread's grant rotates T0 into T1, the
others take the bearer token it got (same endpoint and scope) or spend T1, never the revoked T0.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx

from svc import dockerconfig
from svc.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RuntimeFailure,
    SvcError,
    Unauthenticated,
    Unavailable,
)

from . import auth, oauth
from .body import iter_body

log = logging.getLogger(__name__)

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_MANIFEST_BYTES = 4 << 20
_CHUNK = 1 << 20


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest_syntax(digest: str) -> None:
    if not digest.startswith("sha256:"):
        raise InvalidArgument(f"unsupported digest {digest!r} (only sha256 is supported)")
    hexpart = digest[7:]
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidArgument(f"malformed digest {digest!r}")


def _registry_error(resp: httpx.Response) -> str:
    """The registry's own words: JSON `{"errors":[{"code","message"}]}` or the first line of plain text."""
    try:
        doc = json.loads(resp.read()[:65536])
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            e = errors[0]
            code = str(e.get("code") or "").lower().replace("_", " ")
            msg = str(e.get("message") or "")
            return msg if not code or code in msg.lower() else f"{code}: {msg}" if msg else code
    except (ValueError, httpx.HTTPError):
        pass
    try:
        text = resp.text.strip().splitlines()
    except httpx.HTTPError:
        text = []
    return text[0][:200] if text else resp.reason_phrase or f"HTTP {resp.status_code}"


_grants = threading.Lock()  # guards the two maps below
_family: dict[tuple[str, str], str] = {}  # (host, refresh token) -> the family's first token (its lock's key)
_rotated_to: dict[tuple[str, str], str] = {}  # (host, refresh token) -> the one a grant rotated it into
_family_locks: dict[tuple[str, str], threading.Lock] = {}


def _grant_lock(host: str, token: str) -> threading.Lock:
    """The process-wide lock for the grant and write-back of `token`'s family at `host`."""
    with _grants:
        key = (host, _family.get((host, token), token))
        return _family_locks.setdefault(key, threading.Lock())


def _newest(host: str, token: str) -> str:
    """The refresh token `token` has been rotated into since, through every later rotation (itself if none)."""
    with _grants:
        seen = {token}
        while (nxt := _rotated_to.get((host, token))) is not None and nxt not in seen:
            seen.add(nxt)
            token = nxt
        return token


def _forget_rotations() -> None:
    """For tests: a fresh process's maps."""
    with _grants:
        _family.clear()
        _rotated_to.clear()
        _family_locks.clear()


def _record_rotation(host: str, old: str, new: str) -> None:
    with _grants:
        _rotated_to[(host, old)] = new
        _family[(host, new)] = _family.get((host, old), old)


@functools.lru_cache(maxsize=1)
def _system_tls() -> ssl.SSLContext:
    """The system's CAs, loaded once per process: building a context costs ~10 ms (the CA bundle's parse),
    and a pull makes one endpoint per registry and mirror."""
    return httpx.create_ssl_context()


class Endpoint:
    """One registry (or mirror) base URL, e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`."""

    def __init__(
        self,
        base_url: str,
        host: str,
        config_files: tuple[str, ...] = (),
        timeout: float = 30.0,
        creds: tuple[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        connect_timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        offline: bool = False,
        on_rotate: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = host
        self.config_files = config_files
        self.creds = creds  # given with the request (svc login's); else looked up in config files
        self.offline = offline  # a login: ask the token service for a refresh token too
        self.refresh_token = ""  # what it gave (offline), the identity token to keep instead of the password
        self.rotated = ""  # a refresh token a grant rotated in for credentials given with the request
        self._identity = ""  # the identity token to spend from now on, once rotated
        self.on_rotate = on_rotate  # told each token rotated in for credentials given with the request, at once
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=True,
            headers={"User-Agent": "svc", **(headers or {})},
            verify=_system_tls() if verify is True else verify,
        )
        self._auth: dict[str, tuple[str, float]] = {}  # scope -> (Authorization value, expiry)
        self._read_timeout = timeout

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- auth -----

    def _authorize(self, resp: httpx.Response, scope: str, sent: str = "") -> None:
        """Credentials for `scope` after a 401 to a request that carried `sent` ("" for none)."""
        challenges = auth.parse_challenges(resp.headers.get("www-authenticate", ""))
        creds = self.creds or auth.credentials(self.host, self.config_files)
        for ch in challenges:
            if ch.scheme == "bearer" and ch.params.get("realm"):
                if creds is not None and oauth.is_identity_token(creds):
                    self._identity_grant(ch, scope, creds[1], sent)
                else:
                    self._auth[scope] = self._token(ch, scope, creds)
                return
            if ch.scheme == "basic":
                if creds is None:
                    raise Unauthenticated(f"registry {self.host} needs a login (no credentials for it)")
                if oauth.is_identity_token(creds):
                    raise Unauthenticated(
                        f"registry {self.host} asks for basic auth, which an identity token cannot do;"
                        f" log in with a password (svc login {self.host})"
                    )
                self._auth[scope] = (auth.basic_header(*creds), float("inf"))
                return
        raise Unauthenticated(f"registry {self.host} refused access: {_registry_error(resp)}")

    @staticmethod
    def _scopes(ch: auth.Challenge, scope: str) -> list[str]:
        scopes = scope.split()
        if ch.params.get("scope") and ch.params["scope"] not in scopes:
            scopes.append(ch.params["scope"])
        return scopes

    def _identity_grant(self, ch: auth.Challenge, scope: str, token: str, sent: str) -> None:
        """The refresh grant, under the token family's lock: a bearer token another thread got meanwhile
        for this scope is taken instead; else the family's newest refresh token is spent (never one
        rotated already: the token service may have revoked it), and a rotation recorded and kept."""
        lock = _grant_lock(self.host, self._identity or token)
        with lock:
            cached = self._auth.get(scope)
            if cached and cached[0] != sent and cached[1] > time.monotonic():
                return  # another thread's grant, after the 401 this one got
            spent = _newest(self.host, self._identity or token)
            if spent != (self._identity or token):  # rotated by another endpoint in this process
                self._identity = spent
                if self.creds is not None:
                    self._tell(spent)  # the caller's copy is that old one: it moves on through this one
            scopes = self._scopes(ch, scope)
            service = ch.params.get("service", "")
            tok = oauth.refresh_grant(self._http, self.host, ch.params["realm"], service, scopes, spent)
            if tok.refresh and tok.refresh != spent:
                _record_rotation(self.host, spent, tok.refresh)
                self._rotate(spent, tok.refresh)
            self._auth[scope] = (tok.header, tok.expiry)

    def _token(self, ch: auth.Challenge, scope: str, creds: tuple[str, str] | None) -> tuple[str, float]:
        scopes = self._scopes(ch, scope)
        service = ch.params.get("service", "")
        params: dict[str, str | list[str]] = {}
        if scopes:
            params["scope"] = scopes if len(scopes) > 1 else scopes[0]
        if service:
            params["service"] = service
        if self.offline and creds:  # docker login's ask (the token spec's offline_token)
            params.update(offline_token="true", client_id=oauth.CLIENT_ID, account=creds[0])
        headers = {"Authorization": auth.basic_header(*creds)} if creds else {}
        try:
            r = self._http.get(ch.params["realm"], params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"token service {ch.params['realm']} unreachable: {exc}") from exc
        if r.status_code in (401, 403):
            raise Unauthenticated(f"registry {self.host}: token refused: {_registry_error(r)}")
        if r.status_code != 200:
            raise RuntimeFailure(f"registry {self.host}: token service answered {r.status_code}")
        tok = oauth.token_answer(r, self.host)
        if self.offline and creds:
            self.refresh_token = tok.refresh
        return tok.header, tok.expiry

    def _tell(self, new: str) -> None:
        """The caller's (a CLI's request, a service's --with-registry-auth): kept in `rotated`, and told at
        once, not at the end, so a pull interrupted after the rotation still hands it back."""
        self.rotated = new
        if self.on_rotate is not None:
            try:
                self.on_rotate(new)
            except Exception:  # the pull's bearer token is got; the caller's trouble is not the grant's
                log.exception("registry %s: reporting the rotated identity token failed", self.host)

    def _rotate(self, old: str, new: str) -> None:
        """The token service rotated the identity token: spend `new` from now on (the old one may be
        revoked), and keep it where `old` came from. A failure to write it back is a warning: this pull
        has its bearer token; the next one will say what the kept token is worth."""
        self._identity = new
        if self.creds is not None:
            self._tell(new)
            return
        try:
            where = dockerconfig.rotate(self.host, old, new, self.config_files)
        except (SvcError, OSError) as exc:
            log.warning("registry %s: the rotated identity token could not be kept: %s", self.host, exc)
            return
        if where:
            log.info("registry %s: the token service rotated the identity token; kept in %s", self.host, where)

    def _send(
        self,
        method: str,
        path: str,
        scope: str,
        headers: dict[str, str],
        content: Callable[[], bytes | Iterator[bytes]] | None = None,
    ) -> httpx.Response:
        """A streamed request; a 401 is answered once with the challenge's credentials.

        `path` is relative to the endpoint or, for an upload's `Location`, a whole URL; `content` makes the
        body afresh for each attempt."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        for attempt in range(2):
            h = dict(headers)
            cached = self._auth.get(scope)
            if cached and cached[1] > time.monotonic():
                h["Authorization"] = cached[0]
            try:
                body = content() if content is not None else None
                req = self._http.build_request(method, url, headers=h, content=body)
                resp = self._http.send(req, stream=True)
            except httpx.HTTPError as exc:
                hint = ""
                if self.base_url.startswith("https://") and isinstance(exc, httpx.ConnectError):
                    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                        hint = f" (a registry with a private CA needs it in certs.d/{self.host}/ca.crt)"
                    elif "refused" not in str(exc).lower():
                        hint = " (a plain-HTTP registry must be in insecure-registries or svcd's --insecure-registry)"
                raise Unavailable(f"registry {self.host} unreachable: {exc}{hint}") from exc
            if resp.status_code == 401 and attempt == 0:
                resp.read()
                resp.close()
                self._authorize(resp, scope, h.get("Authorization", ""))
                continue
            return resp
        raise AssertionError("unreachable")

    def _fail(self, resp: httpx.Response, what: str) -> SvcError:
        msg = _registry_error(resp)
        resp.close()
        code = resp.status_code
        if code == 404:
            return NotFound(f"{what}: {msg} (404)")
        if code == 401:
            return Unauthenticated(f"{what}: {msg} (401)")
        if code == 403:
            return PermissionDenied(f"{what}: {msg} (403)")
        if code == 429:
            return Unavailable(f"{what}: {msg} (429: rate limited)")
        return RuntimeFailure(f"{what}: registry answered {code}: {msg}")

    def check_login(self) -> None:
        """`GET /v2/` with the credentials: Unauthenticated if the registry refuses them."""
        resp = self._send("GET", "/v2/", "", {})
        if resp.status_code != 200:
            raise self._fail(resp, "credentials refused")
        resp.close()

    # ----- manifests and blobs -----

    def manifest(self, repo: str, ref: str, expected_size: int = -1) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest by tag or digest, verified."""
        if ref.startswith("sha256:"):
            check_digest_syntax(ref)
        scope = f"repository:{repo}:pull"
        resp = self._send("GET", f"/v2/{repo}/manifests/{ref}", scope, {"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code != 200:
            raise self._fail(resp, f"manifest {ref}")
        try:
            length = int(resp.headers.get("content-length", "-1"))
            if length > MAX_MANIFEST_BYTES:
                raise InvalidArgument(f"manifest {ref} is too large ({length} bytes)")
            body = b""
            for chunk in resp.iter_raw():
                body += chunk
                if len(body) > MAX_MANIFEST_BYTES:
                    raise InvalidArgument(f"manifest {ref} is too large (over {MAX_MANIFEST_BYTES} bytes)")
        except httpx.HTTPError as exc:
            raise Unavailable(f"manifest {ref}: transfer failed: {exc}") from exc
        finally:
            resp.close()
        if expected_size >= 0 and len(body) != expected_size:
            raise InvalidArgument(f"manifest {ref}: size {len(body)} does not match its descriptor's {expected_size}")
        digest = sha256_digest(body)
        if ref.startswith("sha256:") and digest != ref:
            raise InvalidArgument(f"manifest {ref}: content does not match its digest (got {digest})")
        stated = resp.headers.get("docker-content-digest", "")
        if stated and stated.startswith("sha256:") and stated != digest:
            raise InvalidArgument(f"manifest {ref}: Docker-Content-Digest {stated} does not match the content")
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise InvalidArgument(f"manifest {ref} is not JSON") from exc
        if isinstance(doc, dict) and isinstance(doc.get("mediaType"), str):
            media = doc["mediaType"]
        return body, media, digest

    def has_manifest(self, repo: str, digest: str) -> bool:
        """HEAD of a manifest by digest: True if the endpoint has it, False on 404."""
        check_digest_syntax(digest)
        scope = f"repository:{repo}:pull"
        resp = self._send("HEAD", f"/v2/{repo}/manifests/{digest}", scope, {"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code in (200, 404):
            resp.close()
            return resp.status_code == 200
        raise self._fail(resp, f"manifest {digest}")

    def blob(
        self,
        repo: str,
        digest: str,
        size: int,
        out: IO[bytes],
        progress: Callable[[int], None] | None = None,
        offset: int = 0,
    ) -> None:
        """Stream a blob into `out`, checking its size as it comes and its digest at the end.

        `offset` > 0: `out` (readable) holds the blob's first `offset` bytes, just before its position, from an
        answer that ended short; the rest is asked for (`Range`), and the digest covers both. A source that
        answers the whole blob instead has it written over them."""
        check_digest_syntax(digest)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._send("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull", headers)
        if resp.status_code not in (200, 206) or (resp.status_code == 206 and not offset):
            raise self._fail(resp, f"blob {digest}")
        hasher = hashlib.sha256()
        got = 0
        if offset and resp.status_code == 206:
            if not resp.headers.get("content-range", "").startswith(f"bytes {offset}-"):
                resp.close()
                raise Unavailable(
                    f"blob {digest}: asked from byte {offset}, answered {resp.headers.get('content-range')}"
                )
            _hash_back(out, offset, hasher)
            got = offset
        elif offset:  # the whole blob again: over what the short answer left
            out.seek(out.tell() - offset)
            out.truncate()
        try:
            for chunk in iter_body(resp, self._read_timeout):  # as the socket gives it: no re-chunking copy
                got += len(chunk)
                if size >= 0 and got > size:
                    raise InvalidArgument(f"blob {digest} is larger than its descriptor's {size} bytes")
                hasher.update(chunk)
                out.write(chunk)
                if progress:
                    progress(got)
        except httpx.HTTPError as exc:
            raise Unavailable(f"blob {digest}: transfer failed after {got} bytes: {exc}") from exc
        finally:
            resp.close()
        if size >= 0 and got != size:
            raise InvalidArgument(f"blob {digest} is truncated: {got} of {size} bytes")
        if "sha256:" + hasher.hexdigest() != digest:
            raise InvalidArgument(f"blob {digest} does not match its digest (got sha256:{hasher.hexdigest()})")

    # ----- uploads (push) -----

    def blob_exists(self, repo: str, digest: str, scope: str) -> bool:
        """HEAD of a blob: True if the repository has it already."""
        check_digest_syntax(digest)
        resp = self._send("HEAD", f"/v2/{repo}/blobs/{digest}", scope, {})
        if resp.status_code in (200, 404):
            resp.close()
            return resp.status_code == 200
        raise self._fail(resp, f"blob {digest}")

    def _location(self, resp: httpx.Response) -> str:
        loc = resp.headers.get("location", "")
        resp.close()
        if not loc:
            raise RuntimeFailure(f"registry {self.host} answered an upload without a Location")
        return str(resp.url.join(loc))

    def mount_blob(self, repo: str, digest: str, source: str, scope: str) -> tuple[bool, str]:
        """Ask the registry to mount a blob from `source` (a repository on it): (True, "") if mounted, else
        (False, the upload session it opened instead)."""
        check_digest_syntax(digest)
        path = f"/v2/{repo}/blobs/uploads/?mount={digest}&from={source}"
        resp = self._send("POST", path, scope, {"Content-Length": "0"})
        if resp.status_code == 201:
            resp.close()
            return True, ""
        if resp.status_code == 202:
            return False, self._location(resp)
        raise self._fail(resp, f"mounting blob {digest} from {source}")

    def start_upload(self, repo: str, scope: str) -> str:
        """POST /v2/<repo>/blobs/uploads/: the upload session's Location."""
        resp = self._send("POST", f"/v2/{repo}/blobs/uploads/", scope, {"Content-Length": "0"})
        if resp.status_code != 202:
            raise self._fail(resp, "starting a blob upload")
        return self._location(resp)

    def cancel_upload(self, location: str, scope: str) -> None:
        """DELETE an unfinished upload session (best effort: the registry expires them anyway)."""
        try:
            self._send("DELETE", location, scope, {}).close()
        except SvcError:
            pass

    def upload_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        f: IO[bytes],
        scope: str,
        chunk_size: int = 0,
        progress: Callable[[int], None] | None = None,
        location: str = "",
    ) -> None:
        """Upload the blob in the seekable file `f`: one PUT, or PATCH chunks of `chunk_size` then a PUT when
        it is larger. The bytes must be `size` long and match `digest`, or the upload is not completed."""
        check_digest_syntax(digest)
        session = [location or self.start_upload(repo, scope)]
        try:
            if chunk_size <= 0 or size <= chunk_size:
                self._put_whole(session[0], digest, size, f, scope, progress)
            else:
                self._put_chunks(session, digest, size, f, scope, chunk_size, progress)
        except BaseException:
            self.cancel_upload(session[0], scope)
            raise

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return str(httpx.URL(location).copy_merge_params({"digest": digest}))

    def _put_whole(
        self, location: str, digest: str, size: int, f: IO[bytes], scope: str, progress: Callable[[int], None] | None
    ) -> None:
        def body() -> Iterator[bytes]:
            # The last chunk is held back until the digest is known: a blob that does not match is never complete.
            f.seek(0)
            hasher, sent = hashlib.sha256(), 0
            chunk = f.read(_CHUNK)
            while chunk:
                following = f.read(_CHUNK)
                hasher.update(chunk)
                sent += len(chunk)
                if not following:
                    _check_sent(digest, size, sent, hasher)
                yield chunk
                if progress:
                    progress(sent)
                chunk = following
            if sent == 0:
                _check_sent(digest, size, 0, hasher)

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            resp = self._send("PUT", self._with_digest(location, digest), scope, headers, content=body)
        except httpx.HTTPError as exc:  # raised by the body generator's read, not the network
            raise Unavailable(f"blob {digest}: upload failed: {exc}") from exc
        if resp.status_code not in (201, 204):
            raise self._fail(resp, f"uploading blob {digest}")
        resp.close()

    def _put_chunks(
        self,
        session: list[str],
        digest: str,
        size: int,
        f: IO[bytes],
        scope: str,
        chunk_size: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        f.seek(0)
        hasher, offset = hashlib.sha256(), 0
        while offset < size and (data := f.read(min(chunk_size, size - offset))):
            hasher.update(data)
            end = offset + len(data) - 1
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{end}",
                "Content-Length": str(len(data)),
            }
            resp = self._send("PATCH", session[0], scope, headers, content=lambda d=data: d)  # type: ignore[misc]
            if resp.status_code != 202:
                raise self._fail(resp, f"uploading blob {digest} (bytes {offset}-{end})")
            got = resp.headers.get("range", "")
            session[0] = self._location(resp)
            if got and got.rsplit("-", 1)[-1].strip() != str(end):
                raise RuntimeFailure(f"blob {digest}: the registry has bytes {got}, not 0-{end}")
            offset = end + 1
            if progress:
                progress(offset)
        _check_sent(digest, size, offset + len(f.read(1)), hasher)  # a longer file is not the blob either
        resp = self._send("PUT", self._with_digest(session[0], digest), scope, {"Content-Length": "0"})
        if resp.status_code not in (201, 204):
            raise self._fail(resp, f"completing blob {digest}")
        resp.close()

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str, scope: str) -> str:
        """PUT a manifest under a tag (or its digest); returns its digest, as the registry confirms it."""
        digest = sha256_digest(body)
        resp = self._send("PUT", f"/v2/{repo}/manifests/{ref}", scope, {"Content-Type": media_type}, lambda: body)
        if resp.status_code not in (200, 201):
            raise self._fail(resp, f"manifest {ref}")
        stated = resp.headers.get("docker-content-digest", "")
        resp.close()
        if stated and stated != digest:
            raise RuntimeFailure(f"registry {self.host} stored manifest {ref} as {stated}, not {digest}")
        return digest


def _hash_back(out: IO[bytes], n: int, hasher: Any) -> None:
    """Hash the `n` bytes of `out` just before its position (a resumed blob's first part), position kept."""
    out.flush()
    end = out.tell()
    out.seek(end - n)
    left = n
    while left > 0:
        chunk = out.read(min(_CHUNK, left))
        if not chunk:
            raise RuntimeFailure("the blob's first part is gone from its scratch file")
        hasher.update(chunk)
        left -= len(chunk)
    out.seek(end)


def _check_sent(digest: str, size: int, sent: int, hasher: Any) -> None:
    if sent != size:
        raise InvalidArgument(f"blob {digest} is {sent} bytes in the image store, not its descriptor's {size}")
    if "sha256:" + hasher.hexdigest() != digest:
        got = "sha256:" + hasher.hexdigest()
        raise InvalidArgument(f"blob {digest} in the image store does not match its digest (got {got})")


def parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"{what} is not valid JSON") from exc
