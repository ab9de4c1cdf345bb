"""The layer unpacker's gzip reader (node/engine/layers._Gunzip): the bytes gzip.decompress gives, for one
member or several with zero padding between, in any read size; a truncated or corrupt stream is an error."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest

from node.engine.layers import _Gunzip, open_uncompressed


def _all(reader: _Gunzip, n: int) -> bytes:
    out = []
    while chunk := reader.read(n):
        out.append(chunk)
    return b"".join(out)


@pytest.mark.parametrize("n", [1, 4096, 1 << 20, -1])
def test_members_padding_and_read_sizes(n: int) -> None:
    noise, same = (3000, 5000) if n == 1 else (3 << 20, 5 << 20)  # one byte at a time: a small one
    data = os.urandom(noise) + b"a" * same  # incompressible, then compressible (output held back by n)
    blob = gzip.compress(data[:1000]) + b"\0" * 600 + gzip.compress(data[1000:], 6) + gzip.compress(b"")
    assert _all(_Gunzip(io.BytesIO(blob)), n) == data
    assert isinstance(open_uncompressed(io.BytesIO(blob)), _Gunzip)


def test_truncated_and_corrupt_streams_are_errors() -> None:
    blob = gzip.compress(os.urandom(100_000))
    with pytest.raises(EOFError):
        _all(_Gunzip(io.BytesIO(blob[:-20])), 1 << 20)
    bad_crc = blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:]
    with pytest.raises(zlib.error):
        _all(_Gunzip(io.BytesIO(bad_crc)), 1 << 20)
    with pytest.raises(zlib.error):
        _all(_Gunzip(io.BytesIO(blob + b"garbage")), 1 << 20)
