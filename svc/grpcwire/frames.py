"""HTTP/2 frames (RFC 9113) as the unary client writes and reads them; pure.

A frame this side cannot make sense of (a payload shorter than its type needs, padding longer
than the frame) is a ProtocolError: the connection is unusable after it.
"""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20
SETTINGS_TABLE_SIZE, SETTINGS_PUSH, SETTINGS_WINDOW, SETTINGS_FRAME = 1, 2, 4, 5
MAX_WINDOW = (1 << 31) - 1
DEFAULT_WINDOW = 65535
DEFAULT_FRAME = 16384
NO_ERROR, REFUSED_STREAM = 0, 7

Frame = tuple[int, int, int, bytes]  # type, flags, stream, payload


class ProtocolError(Exception):
    """A frame that breaks the protocol."""


def frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


def settings(pairs: list[tuple[int, int]]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(stream: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def header(head: bytes) -> tuple[int, int, int, int]:
    """Length, type, flags, stream of a 9-byte frame header."""
    return int.from_bytes(head[:3], "big"), head[3], head[4], int.from_bytes(head[5:9], "big") & MAX_WINDOW


def unpadded(flags: int, payload: bytes) -> bytes:
    """A DATA or HEADERS payload without its padding."""
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise ProtocolError("a padded frame with more padding than payload")
    return payload[1 : len(payload) - payload[0]]


def header_block(flags: int, payload: bytes) -> bytes:
    """The header block fragment of a HEADERS frame (padding and priority fields taken off)."""
    block = unpadded(flags, payload)
    if flags & PRIORITY_FLAG:
        if len(block) < 5:
            raise ProtocolError("a HEADERS frame too short for its priority fields")
        block = block[5:]
    return block


def u32(payload: bytes, what: str) -> int:
    """The 31-bit value a WINDOW_UPDATE, RST_STREAM or GOAWAY frame starts with."""
    if len(payload) < 4:
        raise ProtocolError(f"a {what} frame of {len(payload)} bytes")
    return struct.unpack(">I", payload[:4])[0] & MAX_WINDOW


def settings_pairs(payload: bytes) -> list[tuple[int, int]]:
    if len(payload) % 6:
        raise ProtocolError(f"a SETTINGS frame of {len(payload)} bytes")
    return [struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6)]
