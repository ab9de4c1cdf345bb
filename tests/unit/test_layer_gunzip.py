"""The layer unpacker's gzip reader (node/engine/layers._Gunzip): the bytes gzip.decompress gives, for one
member or several with zero padding between, in any read size; a truncated or corrupt stream is an error."""

from __future__ import annotations

import gzip
import io
import os
import random
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


@pytest.mark.parametrize("seed", range(6))
def test_member_ends_across_feed_and_block_boundaries(seed: int) -> None:
    """zlib is given 64 KiB at a time out of 1 MiB blocks: a member may end anywhere in either, and what
    zlib did not use (a size limit, or the bytes after a member) must be given again, exactly once."""
    rng = random.Random(seed)
    members, data = [], b""
    for _ in range(rng.randint(2, 5)):
        part = rng.choice([os.urandom(rng.randint(0, 300_000)), b"x" * rng.randint(0, 3 << 20)])
        members.append(gzip.compress(part, rng.choice([1, 6, 9])) + b"\0" * rng.choice([0, 0, 7, 512]))
        data += part
    blob = b"".join(members)
    for n in (1000, 65536, 1 << 20):
        assert _all(_Gunzip(io.BytesIO(blob)), n) == data
