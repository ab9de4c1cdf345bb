"""svc/grpcwire/hpack.py: the encoder's literals, the decoder's table, integers and bad blocks."""

from __future__ import annotations

import pytest

from svc.grpcwire import hpack


def test_encoded_literals_decode_back() -> None:
    headers = [(":path", "/svc.v1.Control/ListServices"), ("grpc-timeout", "60000m"), ("x-long", "v" * 300)]
    assert hpack.Decoder().decode(hpack.encode(headers)) == headers


def test_static_table_entries() -> None:
    d = hpack.Decoder()
    # 0x88: indexed :status 200; 0x5f: content-type (31) by index, value literal, incremental indexing.
    block = bytes([0x88, 0x40 | 31, 16]) + b"application/grpc"
    assert d.decode(block) == [(":status", "200"), ("content-type", "application/grpc")]


def test_dynamic_table_is_followed_when_allowed() -> None:
    d = hpack.Decoder(max_size=4096)
    first = bytes([0x40, 11]) + b"grpc-status" + bytes([1]) + b"0"  # new name, incremental indexing
    assert d.decode(first) == [("grpc-status", "0")]
    assert d.decode(bytes([0x80 | 62])) == [("grpc-status", "0")]  # the first dynamic index


def test_with_no_table_an_indexed_entry_is_gone() -> None:
    d = hpack.Decoder()  # TABLE_SIZE: 0
    d.decode(bytes([0x40, 1]) + b"a" + bytes([1]) + b"b")
    with pytest.raises(hpack.HpackError, match="not in the table"):
        d.decode(bytes([0x80 | 62]))


def test_size_update_above_the_limit_is_refused() -> None:
    with pytest.raises(hpack.HpackError, match="table size update"):
        hpack.Decoder().decode(bytes([0x3F, 0xE1, 0x1F]))  # 4096


def test_multibyte_integers() -> None:
    value = "x" * 1000
    block = hpack.encode([("n", value)])
    assert block[3:6] == bytes([0x7F, 0xE9, 0x06])  # 1000 = 127 + 873 (0x69 | 0x80, 0x06)
    assert hpack.Decoder().decode(block) == [("n", value)]


def test_huffman_values_are_marked_not_guessed() -> None:
    block = bytes([0x00, 1]) + b"k" + bytes([0x80 | 2]) + b"\xff\xff"
    assert hpack.Decoder().decode(block) == [("k", hpack.HUFFMAN)]


@pytest.mark.parametrize("block", [bytes([0x00, 5]) + b"ab", bytes([0x00]), bytes([0x7F, 0xFF])])
def test_truncated_blocks_are_errors(block: bytes) -> None:
    with pytest.raises(hpack.HpackError):
        hpack.Decoder().decode(block)
