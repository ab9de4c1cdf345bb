"""The AES-GCM envelope of a secret's value in the store (pure).

A value is sealed by the proposer (the leader) before it is written, with the cluster's data key
(`ClusterObj.secrets_key`, 256 random bits, made once and never changed) and a fresh nonce; the
secret's id is the associated data, so a sealed value cannot be moved to another secret. The store
itself never encrypts (apply reads no randomness) and never decrypts: only the leader, to hand a
value to the one node that runs a task using it.
"""

from __future__ import annotations

import os

from svc.errors import RuntimeFailure

MAGIC = b"SVCSEC1\0"
NONCE = 12
KEY_BYTES = 32


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _aad(secret_id: str) -> bytes:
    return MAGIC + secret_id.encode()


def seal(key: bytes, secret_id: str, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, data, _aad(secret_id))


def open_sealed(key: bytes, secret_id: str, blob: bytes) -> bytes:
    """The value; RuntimeFailure if the blob is not a value of this secret under this key."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE + 16:
        raise RuntimeFailure(f"secret {secret_id[:12]}: its stored value is not a sealed value")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE :], _aad(secret_id))
    except InvalidTag:
        raise RuntimeFailure(
            f"secret {secret_id[:12]}: its stored value does not authenticate with the data key"
        ) from None
