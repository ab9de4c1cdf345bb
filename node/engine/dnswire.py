"""DNS message sizes and TCP framing for the embedded DNS server (pure: bytes in, bytes out).

Rule: an answer sent over UDP never exceeds what the client can take — 512 bytes, or the payload
size its EDNS OPT record announces (capped at 4096); a larger answer goes out as its header and
question only, with TC set, and the client asks again over TCP (RFC 1035 4.2.1, RFC 7766). Over
TCP every message is preceded by its length in two bytes, big-endian.
"""

from __future__ import annotations

import struct

UDP_DEFAULT = 512
UDP_MAX = 4096
TC = 0x0200  # the truncation bit of the header's flags


def udp_limit(query: bytes) -> int:
    """The largest UDP answer the asker takes: its EDNS payload size, else 512."""
    from dnslib import QTYPE, DNSRecord

    try:
        req = DNSRecord.parse(query)
    except Exception:
        return UDP_DEFAULT
    for rr in req.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_DEFAULT, min(int(rr.rclass), UDP_MAX))
    return UDP_DEFAULT


def fit_udp(answer: bytes, limit: int) -> bytes:
    """`answer` if it fits, else its header (TC set, no records) and its question."""
    if len(answer) <= limit:
        return answer
    from dnslib import DNSRecord

    full = DNSRecord.parse(answer)
    short = DNSRecord(header=full.header, q=full.q)
    short.rr, short.auth, short.ar = [], [], []
    packed = bytearray(short.pack())
    flags = struct.unpack_from("!H", packed, 2)[0] | TC
    struct.pack_into("!H", packed, 2, flags)
    return bytes(packed)


def frame(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def unframe(buf: bytes) -> tuple[list[bytes], bytes]:
    """The whole messages at the start of `buf`, and what is left (a message still arriving)."""
    out = []
    while len(buf) >= 2:
        size = struct.unpack_from("!H", buf)[0]
        if len(buf) < 2 + size:
            break
        out.append(buf[2 : 2 + size])
        buf = buf[2 + size :]
    return out, buf
