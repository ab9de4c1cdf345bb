"""A streamed response's body as chunks, read from the connection itself where that is safe: a blob's bytes.

httpx parses HTTP/1.1 with h11, which copies every byte of a body four times while holding the GIL (into its
receive buffer, two slices out, and a bytes() of the event). A 50 MB blob cost 0.14 s of CPU that way, 0.05 s
read straight off the socket, and on a node downloading several layers at once those copies are most of
what the threads queue for. So once h11 has parsed the headers and handed over the body bytes it already
holds (the first chunk), the rest of a body of known length is read from the response's network stream
(httpcore's `network_stream` extension). h11 never sees those bytes, so the connection must not be used
again: closing the response with its message unfinished makes httpcore close the connection, not pool it.
The next request to that endpoint opens a new one (a TCP connect, and a TLS handshake where there is TLS).

Rule: only the body of a GET's 200 or 206, HTTP/1.x, with a Content-Length of at least `DIRECT_FROM` and no
Transfer-Encoding is read this way; any other body goes through httpx as before (a small one keeps its
connection in the pool). Errors are httpx's, whichever way the bytes came: `httpx.ReadError` or
`httpx.ReadTimeout`, and `httpx.RemoteProtocolError` for a body that ends before its Content-Length.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpcore
import httpx

DIRECT_FROM = 1 << 20  # a body this long or longer is read off the socket
# Bytes asked of the socket per read. Not more: Python sets aside what it asks for at each recv and gives back
# the rest, and a TLS socket returns one 16 KiB record a read, so a 1 MiB ask cost an mmap and munmap per
# record (over TLS slower than through h11); 64 KiB comes from the heap and takes what a fast link holds.
READ = 1 << 16


def iter_body(resp: httpx.Response, timeout: float | None) -> Iterator[bytes]:
    """The bytes of `resp`'s body, in chunks as they arrive; `timeout` bounds each read of the socket."""
    stream: Any = resp.extensions.get("network_stream")
    length = _content_length(resp)
    chunks = resp.iter_raw()
    plain = resp.request.method == "GET" and resp.status_code in (200, 206)  # h11 frames a HEAD, 204, 304 bodiless
    if not plain or stream is None or length < DIRECT_FROM or resp.http_version not in ("HTTP/1.1", "HTTP/1.0"):
        yield from chunks  # small: the copies cost little, and the connection stays in the pool
        return
    got = 0
    for first in chunks:  # what h11 holds already (or its first read): h11's buffer is empty after it
        got += len(first)
        yield first
        break
    else:
        return  # no body after all (h11's framing): the connection went back to the pool, never read it here
    while got < length:
        try:
            chunk = stream.read(min(READ, length - got), timeout)
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading the body", request=resp.request) from exc
        except (httpcore.NetworkError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=resp.request) from exc
        if not chunk:
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body (received {got} bytes,"
                f" expected {length})",
                request=resp.request,
            )
        got += len(chunk)
        yield chunk


def _content_length(resp: httpx.Response) -> int:
    """The body's length if the response states it and sends it plainly (not chunked); else -1."""
    if "transfer-encoding" in resp.headers:
        return -1
    try:
        n = int(resp.headers.get("content-length", ""))
    except ValueError:
        return -1
    return n if n >= 0 else -1
