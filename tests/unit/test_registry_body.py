"""A blob's body read off the connection itself (svc/registry/body.py), against a real HTTP/1.1 server on
loopback: the bytes are the body's, whichever way they came; a body that ends early, stalls, or is chunked is
handled as httpx handles it; a connection read that way is never used again, and a small body's is."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from svc.errors import InvalidArgument, Unavailable
from svc.registry import body
from svc.registry.client import Endpoint

BIG = 3 * body.DIRECT_FROM + 12345
DATA = bytes(range(256)) * (BIG // 256 + 1)


class _Server:
    def __init__(self) -> None:
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a connection may carry several requests

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            reset = False

            def finish(self) -> None:
                if not self.reset:
                    super().finish()

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", self.path.strip("/").split("/")[-1])
                self.end_headers()

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if parts[0] == "v2":  # a blob of Endpoint's: /v2/REPO/blobs/DIGEST, REPO's last part the kind
                    kind, size = (parts[-3] if parts[-3] in ("short", "stall", "reset") else "full"), BIG
                else:  # /KIND/SIZE
                    kind, size = parts[0], int(parts[1])
                data = DATA[:size]
                self.send_response(200)
                if kind == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, size, 100_000):
                        piece = data[i : i + 100_000]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if kind == "full":
                    self.wfile.write(data)
                elif kind == "short":  # half of it, then the connection closes
                    self.wfile.write(data[: size // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif kind == "reset":  # a part, then a TCP reset (SO_LINGER 0: RST, not FIN)
                    self.wfile.write(data[: size // 2])
                    self.wfile.flush()
                    time.sleep(0.2)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    os.close(self.connection.detach())  # closed here, with no shutdown (a FIN) first
                    self.reset = self.close_connection = True
                elif kind == "stall":  # a part, then nothing until the client gives up
                    self.wfile.write(data[: size // 2])
                    self.wfile.flush()
                    time.sleep(2)
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.stop()


def _get(client: httpx.Client, url: str, timeout: float = 10.0) -> bytes:
    with client.stream("GET", url) as resp:
        return b"".join(body.iter_body(resp, timeout))


def test_a_large_body_is_read_whole_and_its_connection_is_not_pooled(server: _Server) -> None:
    with httpx.Client() as client:
        assert _get(client, f"{server.url}/full/{BIG}") == DATA[:BIG]
        assert _get(client, f"{server.url}/full/{BIG}") == DATA[:BIG]
        assert server.connections == 2  # h11 never saw the bytes read off the first one
        small = body.DIRECT_FROM - 1
        assert _get(client, f"{server.url}/full/{small}") == DATA[:small]
        assert _get(client, f"{server.url}/full/{small}") == DATA[:small]
        assert server.connections == 3  # through httpx: the connection went back to the pool


def test_a_chunked_body_goes_through_httpx(server: _Server) -> None:
    with httpx.Client() as client:
        assert _get(client, f"{server.url}/chunked/{BIG}") == DATA[:BIG]


@pytest.mark.parametrize("size", [BIG, body.DIRECT_FROM - 1])
def test_a_body_that_ends_early_is_httpx_error(server: _Server, size: int) -> None:
    with httpx.Client() as client, pytest.raises(httpx.RemoteProtocolError):
        _get(client, f"{server.url}/short/{size}")


def test_a_stalled_body_times_out_as_httpx_does(server: _Server) -> None:
    with httpx.Client() as client, pytest.raises(httpx.ReadTimeout):
        _get(client, f"{server.url}/stall/{BIG}", timeout=0.3)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_endpoint_blob_checks_size_and_digest_of_a_body_read_off_the_socket(server: _Server) -> None:
    blob = DATA[:BIG]
    with Endpoint(server.url, "127.0.0.1") as ep:
        out = io.BytesIO()
        seen: list[int] = []
        ep.blob("r", _digest(blob), BIG, out, seen.append)
        assert out.getvalue() == blob and seen[-1] == BIG
        with pytest.raises(InvalidArgument, match="does not match its digest"):
            ep.blob("r", _digest(blob + b"x"), BIG, io.BytesIO())
        with pytest.raises(InvalidArgument, match="larger than its descriptor"):
            ep.blob("r", _digest(blob), BIG - 100, io.BytesIO())


def test_endpoint_blob_short_or_stalled_is_unavailable(server: _Server) -> None:
    with Endpoint(server.url, "127.0.0.1", timeout=0.3) as ep:
        with pytest.raises(Unavailable, match="transfer failed after"):
            ep.blob("r/short", _digest(DATA[:BIG]), BIG, io.BytesIO())
        with pytest.raises(Unavailable, match="transfer failed after"):
            ep.blob("r/stall", _digest(DATA[:BIG]), BIG, io.BytesIO())


def test_a_reset_connection_is_a_read_error(server: _Server) -> None:
    """The connection reset under a direct read: httpx's ReadError, as through h11, and Unavailable for a blob."""
    with httpx.Client() as client, pytest.raises(httpx.ReadError):
        _get(client, f"{server.url}/reset/{BIG}")
    with Endpoint(server.url, "127.0.0.1") as ep, pytest.raises(Unavailable, match="transfer failed after"):
        ep.blob("r/reset", _digest(DATA[:BIG]), BIG, io.BytesIO())


def test_a_head_stating_a_large_length_is_not_read(server: _Server) -> None:
    """h11 frames a HEAD's answer as bodiless whatever its Content-Length: nothing is read off the socket."""
    with httpx.Client() as client, client.stream("HEAD", f"{server.url}/full/{BIG}") as resp:
        assert resp.headers["content-length"] == str(BIG)
        assert b"".join(body.iter_body(resp, 1.0)) == b""


@pytest.mark.parametrize("with_headers", [0, 1000, "pause"])
def test_the_first_chunk_from_h11_then_the_socket(with_headers: int | str) -> None:
    """The body bytes that came with the headers (none, some), or a first read of its own after a pause: h11
    hands over what it holds, the socket gives the rest, nothing lost or doubled."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG
            if with_headers == "pause":
                conn.sendall(head)
                time.sleep(0.2)
                conn.sendall(DATA[:BIG])
            else:
                assert isinstance(with_headers, int)
                conn.sendall(head + DATA[:with_headers])
                time.sleep(0.2)
                conn.sendall(DATA[with_headers:BIG])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with httpx.Client() as client:
            assert _get(client, f"http://127.0.0.1:{port}/x") == DATA[:BIG]
    finally:
        t.join(5)
        listener.close()
