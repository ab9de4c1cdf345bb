"""gRPC over HTTP/2 above the frames: the request's timeout header, and what an answer says; pure.

Follows gRPC's "HTTP/2 transport mapping": a grpc-status in the trailers (or in a trailers-only
answer), a percent-encoded grpc-message, a non-200 HTTP status mapped as grpc does, and one
length-prefixed, uncompressed message.
"""

from __future__ import annotations

import struct

from svc import statuscodes
from svc.grpcwire import hpack

# gRPC's codes for an answer without grpc-status, by HTTP status (doc/http-grpc-status-mapping.md).
_HTTP_STATUS = {"400": 13, "401": 16, "403": 7, "404": 12, "429": 14, "502": 14, "503": 14, "504": 14}


class StatusError(Exception):
    """An answer that is a status, not a message: `code` and `details` are the server's."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class Unreadable(Exception):
    """An answer that does not follow the protocol (its end, or its status, missing)."""


def timeout_header(seconds: float) -> str:
    """grpc-timeout: at most 8 digits, in the finest unit that fits."""
    ms = max(1, int(seconds * 1000))
    if ms < 10**8:
        return f"{ms}m"
    return f"{min(int(seconds), 10**8 - 1)}S"


def message(fields: list[tuple[str, str]], body: bytes, max_receive: int) -> bytes:
    """The message an ended answer holds; StatusError for a status; `fields` are headers, then trailers."""
    values = dict(fields)
    status = values.get(":status", "")
    if status != "200":
        code = _HTTP_STATUS.get(status, statuscodes.UNKNOWN)
        raise StatusError(code, f"the manager answered HTTP {status or 'without a status'}")
    raw = values.get("grpc-status")
    if raw is None or not raw.isdigit():
        raise Unreadable("the answer ended without a grpc-status")
    code = int(raw)
    if code != statuscodes.OK:
        text = values.get("grpc-message", "")
        if not text or text == hpack.HUFFMAN:
            text = f"StatusCode.{statuscodes.name(code)}"  # what grpcio says when the server gave no words
        raise StatusError(code, percent_decoded(text))
    if len(body) < 5:
        raise StatusError(statuscodes.INTERNAL, "the answer holds no message")
    compressed, length = struct.unpack(">BI", body[:5])
    if compressed:
        raise StatusError(statuscodes.INTERNAL, "the answer is compressed, which this client did not ask for")
    if length > max_receive:
        raise StatusError(statuscodes.RESOURCE_EXHAUSTED, f"the answer is larger than the {max_receive} bytes allowed")
    if len(body) != 5 + length:
        raise StatusError(statuscodes.INTERNAL, "the answer's message length does not match its bytes")
    return body[5:]


def percent_decoded(text: str) -> str:
    """grpc-message is percent-encoded UTF-8."""
    if "%" not in text:
        return text
    data = text.encode()
    raw = bytearray()
    i = 0
    while i < len(data):
        pair = data[i + 1 : i + 3]
        if data[i] == 0x25 and len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair):
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(data[i])
            i += 1
    return raw.decode("utf-8", "replace")
