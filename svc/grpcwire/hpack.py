"""HPACK (RFC 7541) as a gRPC unary client needs it: encode without the dynamic table, decode in full.

The encoder writes every field as a literal without indexing, so it keeps no state the server must
mirror. The decoder follows the dynamic table in full, though the client's SETTINGS allow it a size of 0
(`TABLE_SIZE`), so that the server never indexes: an entry's size counts its decoded bytes, and
Huffman-coded strings are not decoded here. gRPC's C core codes only binary (`-bin`) values that
way, which this client never reads; such a value decodes to `HUFFMAN`, and a caller that needs it
gets a clear error instead of wrong bytes.
"""

from __future__ import annotations

HUFFMAN = "\x00huffman"  # stands for a Huffman-coded value (never a real header value: no NUL there)

# RFC 7541 Appendix A, indexes 1-61.
_STATIC: tuple[tuple[str, str], ...] = (
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)
TABLE_SIZE = 0  # what the client announces (SETTINGS_HEADER_TABLE_SIZE): no entry of the server's stays


class HpackError(Exception):
    """A header block this decoder cannot read: the connection is unusable after it."""


def _int(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(s: str) -> bytes:
    raw = s.encode()
    return _int(len(raw), 7, 0) + raw


def encode(headers: list[tuple[str, str]]) -> bytes:
    """A header block of literal fields without indexing (names lower case, as HTTP/2 wants)."""
    return b"".join(b"\x00" + _string(name) + _string(value) for name, value in headers)


class Decoder:
    """One connection's decoding context: the dynamic table lives as long as the connection."""

    def __init__(self, max_size: int = TABLE_SIZE) -> None:
        self._table: list[tuple[str, str]] = []  # newest first
        self._size = 0
        self._max = max_size
        self._limit = max_size  # what our SETTINGS allowed: a size update may not exceed it

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        n = len(block)
        while pos < n:
            b = block[pos]
            if b & 0x80:  # indexed field
                index, pos = self._read_int(block, pos, 7)
                out.append(self._entry(index))
            elif b & 0x40:  # literal with incremental indexing
                name, value, pos = self._literal(block, pos, 6)
                self._add(name, value)
                out.append((name, value))
            elif b & 0x20:  # dynamic table size update
                size, pos = self._read_int(block, pos, 5)
                if size > self._limit:
                    raise HpackError(f"table size update to {size} above the {self._limit} allowed")
                self._max = size
                self._evict()
            else:  # literal without indexing (0000) or never indexed (0001)
                name, value, pos = self._literal(block, pos, 4)
                out.append((name, value))
        return out

    def _literal(self, block: bytes, pos: int, prefix_bits: int) -> tuple[str, str, int]:
        index, pos = self._read_int(block, pos, prefix_bits)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._read_string(block, pos)
        value, pos = self._read_string(block, pos)
        return name, value, pos

    def _entry(self, index: int) -> tuple[str, str]:
        if 1 <= index <= len(_STATIC):
            return _STATIC[index - 1]
        i = index - len(_STATIC) - 1
        if 0 <= i < len(self._table):
            return self._table[i]
        raise HpackError(f"header index {index} is not in the table")

    def _add(self, name: str, value: str) -> None:
        self._table.insert(0, (name, value))
        self._size += _entry_size(name, value)
        self._evict()

    def _evict(self) -> None:
        while self._size > self._max and self._table:
            name, value = self._table.pop()
            self._size -= _entry_size(name, value)

    @staticmethod
    def _read_int(block: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
        limit = (1 << prefix_bits) - 1
        try:
            value = block[pos] & limit
            pos += 1
            if value < limit:
                return value, pos
            shift = 0
            while True:
                b = block[pos]
                pos += 1
                value += (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    return value, pos
                if shift > 28:
                    raise HpackError("an integer in a header block is too long")
        except IndexError:
            raise HpackError("a header block ends inside an integer") from None

    def _read_string(self, block: bytes, pos: int) -> tuple[str, int]:
        if pos >= len(block):
            raise HpackError("a header block ends before a string")
        huffman = bool(block[pos] & 0x80)
        length, pos = self._read_int(block, pos, 7)
        end = pos + length
        if end > len(block):
            raise HpackError("a header block ends inside a string")
        if huffman:
            return HUFFMAN, end
        return block[pos:end].decode("utf-8", "replace"), end


def _entry_size(name: str, value: str) -> int:
    return len(name.encode()) + len(value.encode()) + 32  # RFC 7541 section 4.1
