"""The node's peer server: the manifests and blobs its image store holds, to other nodes, by digest only.

Rules: read-only (GET and HEAD of `/v2/<name>/manifests/<digest>` and `/v2/<name>/blobs/<digest>`, the
distribution API's read subset, so a pull uses a peer as one more endpoint); never by tag (400); only to a
client presenting a certificate of the cluster's CA with a node's or manager's role (the TLS handshake
refuses anyone else; an admin certificate gets 403). The certificate is the agent's current one: each new
connection uses the identity of the moment, so a renewal or a CA rotation needs no restart. A blob this
node is still pulling itself, or may yet (the image the asker names in `X-Svc-Image` is announced or
resolving here: inflight.py), is waited for (PEER_WAIT_SECONDS) rather than refused. `Range: bytes=N-`
is served (206), stored or still downloading: an asker whose answer ended short resumes from byte N.

The stdlib's threading HTTP server: a few concurrent peers, files streamed from disk, no new dependency
and no event loop shared with the agent's gRPC.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from svc import defaults, tls
from svc.errors import Unavailable
from svc.httpserver import QuickBindHTTPServer
from svc.netaddr import split_addr

from ..images import ImageStore
from . import inflight

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"/v2/(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_RANGE = re.compile(r"bytes=(\d{1,15})-")
_ROLES = ("worker", "manager")
_MAX_MANIFEST = 4 << 20
_CHUNK = 1 << 20
_FOLLOW_SECONDS = 0.01  # how often a blob still downloading is read again for new bytes
_STALL_SECONDS = 10.0  # no new bytes this long: end the answer short (the asker's read timeout is 30 s)
_DEFAULT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# An asker's pinned top digest: a blob ask waits only on a pull of that image here (announced or resolving).
IMAGE_HEADER = "X-Svc-Image"


def _range_start(value: str) -> int:
    """The first byte a `Range: bytes=START-` asks for (an asker resuming an answer that ended short); 0 for
    none, or a form this server does not serve (it then answers the whole blob, as RFC 9110 lets it)."""
    m = _RANGE.fullmatch(value.strip())
    return int(m[1]) if m else 0


def is_digest(ref: str) -> bool:
    return bool(_DIGEST.fullmatch(ref))


def manifest_type(body: bytes) -> str:
    """The media type of stored bytes that are an image manifest or index; "" for any other blob."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        return ""
    media = doc.get("mediaType")
    if isinstance(media, str) and media:
        return media
    if "layers" in doc and "config" in doc:
        return _DEFAULT_MANIFEST
    if "manifests" in doc:
        return "application/vnd.oci.image.index.v1+json"
    return ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    connection: ssl.SSLSocket

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("peer %s: %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _read_only(self) -> None:
        self.close_connection = True  # whatever body was sent is not read
        self._refuse(405, "UNSUPPORTED", "a peer is read-only")

    do_PUT = do_POST = do_PATCH = do_DELETE = _read_only

    def _refuse(self, code: int, err: str, message: str, head: bool = False) -> None:
        body = json.dumps({"errors": [{"code": err, "message": message}]}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        if tls.peer_role(self.connection.getpeercert()) not in _ROLES:
            return self._refuse(403, "DENIED", "only the cluster's nodes and managers are served", head)
        path = urlsplit(self.path).path
        if path in ("/v2/", "/v2"):
            return self._send(b"{}", "application/json", "", head)
        m = _PATH.fullmatch(path)
        if m is None:
            return self._refuse(404, "NAME_UNKNOWN", "not found", head)
        kind, ref = m["kind"], m["ref"]
        if not is_digest(ref):
            return self._refuse(400, "UNSUPPORTED", "a peer serves by sha256 digest only, never by tag", head)
        store = self.server.store
        blob = store.blob_path(ref)
        image = self.headers.get(IMAGE_HEADER, "")  # the pinned image the asker pulls this for, if it says
        stored = inflight.wait_for(
            store.root,
            ref,
            lambda: os.path.exists(blob),
            defaults.PEER_WAIT_SECONDS,
            blob=kind == "blobs",
            image=image if is_digest(image) else "",
        )
        start = _range_start(self.headers.get("Range", "")) if kind == "blobs" and not head else 0
        if stored and not os.path.exists(blob) and kind == "blobs":
            g = inflight.in_progress(store.root, ref)
            if g is not None and self._pass_on(g, ref, head, start):
                return None
        if not os.path.exists(blob):
            unknown = "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN"
            return self._refuse(404, unknown, f"{ref} is not on this node", head)
        try:
            f = open(blob, "rb")
        except FileNotFoundError:  # removed since (image garbage collection)
            return self._refuse(404, "BLOB_UNKNOWN", f"{ref} is not on this node", head)
        with f:
            size = os.fstat(f.fileno()).st_size
            if kind == "manifests":
                body = f.read(_MAX_MANIFEST + 1) if size <= _MAX_MANIFEST else b""
                media = manifest_type(body)
                if not media:
                    return self._refuse(404, "MANIFEST_UNKNOWN", f"{ref} is not a manifest on this node", head)
                return self._send(body, media, ref, head)
            if start and start >= size:
                return self._refuse(416, "RANGE_INVALID", f"{ref} has {size} bytes", head)
            self._blob_headers(ref, start, size)
            if head:
                return None
            f.seek(start)
            sent = 0
            while chunk := f.read(_CHUNK):
                self.wfile.write(chunk)
                sent += len(chunk)
            self.server.count(sent)
        return None

    def _blob_headers(self, digest: str, start: int, size: int) -> None:
        """200 for the whole blob; 206 from `start` (a Range `bytes=START-` an asker resuming sent)."""
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Docker-Content-Digest", digest)
        self.end_headers()

    def _pass_on(self, g: inflight.Growing, digest: str, head: bool, start: int = 0) -> bool:
        """A blob this node is downloading, sent on as its bytes arrive (False: its scratch file is gone
        already, renamed into place or removed). A download that fails ends the answer short, so the
        asker's size check fails and it goes to its next source; a retry from another source rewrites
        the same bytes at the same offsets (content-addressed), so following the file stays right."""
        try:
            f = open(g.path, "rb", buffering=0)  # unbuffered: every read asks the file again
        except FileNotFoundError:
            return False
        with f:
            if start and start >= g.size:
                self._refuse(416, "RANGE_INVALID", f"{digest} has {g.size} bytes", head)
                return True
            self._blob_headers(digest, start, g.size)
            if head:
                return True
            f.seek(start)  # a retry writing the file again from 0 reaches here later: read on until it does
            pos, moved = start, time.monotonic()
            while pos < g.size:
                chunk = f.read(min(_CHUNK, g.size - pos))
                if chunk:
                    self.wfile.write(chunk)
                    pos += len(chunk)
                    moved = time.monotonic()
                elif g.ended.is_set():
                    if not (chunk := f.read(min(_CHUNK, g.size - pos))):
                        break  # the download failed (or the file was cut): end short
                    self.wfile.write(chunk)
                    pos += len(chunk)
                elif time.monotonic() - moved > _STALL_SECONDS:
                    break  # stalled (or restarted from 0 by a retry): end short before the asker's timeout
                else:
                    g.ended.wait(_FOLLOW_SECONDS)
            self.server.count(pos - start)
            if pos < g.size:
                self.close_connection = True
        return True

    def _send(self, body: bytes, media: str, digest: str, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if not head:
            self.wfile.write(body)
            self.server.count(len(body))


class _Server(QuickBindHTTPServer):
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], store: ImageStore, context: Callable[[], ssl.SSLContext]) -> None:
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.store = store
        self.context = context
        self.served_bytes = 0
        self._count_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def count(self, n: int) -> None:
        with self._count_lock:
            self.served_bytes += n

    def finish_request(self, request: Any, client_address: Any) -> None:
        """On the connection's own thread: the TLS handshake (a client without a cluster certificate ends
        here), then HTTP."""
        request.settimeout(defaults.PEER_READ_TIMEOUT_SECONDS)
        try:
            conn = self.context().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("peer %s refused: %s", client_address[0], exc)
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError) as exc:
            log.debug("peer %s: %s", client_address[0], exc)
        finally:
            conn.close()


class PeerServer:
    """Serves `store` on `addr` (HOST:PORT) with the identity `identity()` returns at each connection."""

    def __init__(self, store: ImageStore, addr: str, identity: Callable[[], tls.Identity]) -> None:
        self.store = store
        self.addr = addr
        self.identity = identity
        self._ctx: tuple[tls.Identity | None, ssl.SSLContext | None] = (None, None)
        self._ctx_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def context(self) -> ssl.SSLContext:
        ident = self.identity()
        with self._ctx_lock:
            if self._ctx[0] is not ident or self._ctx[1] is None:
                self._ctx = (ident, tls.ssl_context(ident, server=True))
            return self._ctx[1]  # type: ignore[return-value]

    @property
    def port(self) -> int:
        """The port listened on (the one given, or the kernel's choice for 0)."""
        return int(self._server.server_address[1]) if self._server else 0

    @property
    def served_bytes(self) -> int:
        return self._server.served_bytes if self._server else 0

    def start(self) -> None:
        host, port = split_addr(self.addr, "peer address")
        self.context()  # a bad identity fails here, not at the first peer
        try:
            self._server = _Server((host.strip("[]"), port), self.store, self.context)
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise Unavailable(
                f"peer address {self.addr}: {why} (choose another with --peer-port, 0 for none)"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="peer-server", daemon=True)
        self._thread.start()
        log.info("serving images to peers on %s", self.addr)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
