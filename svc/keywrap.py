"""Keys at rest: autolock's unlock key and what it wraps, and the Raft log's at-rest key.

- The **unlock key** (`SWMKEY-1-<base32 of 256 random bits>`, as Swarm's) is made by the leader when
  autolock is turned on and kept in the Raft store, so every manager can re-seal its files with it and
  `svc cluster unlock-key` can show it. The key-encrypting key is HKDF-SHA256 of it; a **sealed** blob is
  `SVCSEAL1`, a 96-bit nonce and AES-256-GCM of the plaintext with the header as associated data.
- The **at-rest key** of the Raft journal and snapshot is HKDF-SHA256 of the cluster's Raft secret: the
  same on every manager (pysyncobj ships a snapshot file's bytes as they are), and as secret as the
  Raft secret itself, which autolock seals. Records: a marker byte, a nonce, AES-256-GCM.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from svc import defaults
from svc.errors import InvalidArgument, PermissionDenied

UNLOCK_PREFIX = "SWMKEY-1-"
UNLOCK_SOCKET_NAME = defaults.UNLOCK_SOCKET_NAME
SEAL_MAGIC = b"SVCSEAL1"
RECORD_MARKER = 0xE5  # first byte of an encrypted journal record (pysyncobj's command types are 0-3)
_NONCE = 12


class WrongKey(PermissionDenied):
    """The unlock key given does not open what it was asked to."""


def new_unlock_key() -> str:
    return UNLOCK_PREFIX + base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=")


def parse_unlock_key(text: str) -> bytes:
    """The 32 key bytes of an unlock key; InvalidArgument for anything that is not one."""
    text = text.strip()
    if not text.startswith(UNLOCK_PREFIX):
        raise InvalidArgument("invalid unlock key: it must start with SWMKEY-1- (see `svc cluster unlock-key`)")
    body = text[len(UNLOCK_PREFIX) :].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidArgument("invalid unlock key: malformed (see `svc cluster unlock-key`)")
    return raw


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def kek(unlock_key: str) -> bytes:
    """The key-encrypting key of an unlock key."""
    return _hkdf(parse_unlock_key(unlock_key), b"svc autolock kek v1")


def seal(unlock_key: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return SEAL_MAGIC + nonce + AESGCM(kek(unlock_key)).encrypt(nonce, plaintext, SEAL_MAGIC)


def is_sealed(blob: bytes) -> bool:
    return blob.startswith(SEAL_MAGIC)


def unseal(unlock_key: str, blob: bytes) -> bytes:
    """The plaintext of a sealed blob; WrongKey if the key is not the one it was sealed with."""
    if not is_sealed(blob) or len(blob) < len(SEAL_MAGIC) + _NONCE + 16:
        raise InvalidArgument("not a sealed blob")
    head = len(SEAL_MAGIC)
    try:
        return AESGCM(kek(unlock_key)).decrypt(blob[head : head + _NONCE], blob[head + _NONCE :], SEAL_MAGIC)
    except InvalidTag:
        raise WrongKey("the unlock key is not this manager's: it stays locked") from None


class AtRest:
    """The Raft journal's and snapshot's cipher, from the cluster's Raft secret."""

    def __init__(self, raft_secret: str) -> None:
        self._aead = AESGCM(_hkdf(raft_secret.encode(), b"svc raft at rest v1"))

    def record(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return bytes([RECORD_MARKER]) + nonce + self._aead.encrypt(nonce, plaintext, b"svc-wal")

    def open_record(self, blob: bytes) -> bytes:
        """A record's plaintext: an encrypted one is decrypted; one written before encryption (pysyncobj's
        command types are 0-3) is returned as it is. ValueError if it does not authenticate."""
        if not blob or blob[0] != RECORD_MARKER:
            return blob
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], b"svc-wal")
        except InvalidTag:
            raise ValueError("a Raft journal record does not authenticate with this cluster's key") from None

    def blob(self, plaintext: bytes, label: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return label + nonce + self._aead.encrypt(nonce, plaintext, label)

    def open_blob(self, data: bytes, label: bytes) -> bytes:
        try:
            n = len(label)
            return self._aead.decrypt(data[n : n + _NONCE], data[n + _NONCE :], label)
        except InvalidTag:
            raise ValueError("the Raft snapshot does not authenticate with this cluster's key") from None
