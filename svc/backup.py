"""The backup file: a cluster's store, encrypted and authenticated under a key only the operator holds.

`svc cluster backup FILE` writes it (svc/cli/cluster.py); `svcd manager --init --restore FILE
--restore-key KEY` reads it (manager/bootstrap.py). Layout, all integers big-endian:

    magic      10 bytes  b"SVCBACKUP\\0"
    version     2 bytes  FORMAT (1)
    key check   8 bytes  HKDF(key, "svc backup key check"): tells a wrong key from a damaged file
    nonce      12 bytes  random, once per file
    ciphertext  rest     AES-256-GCM under HKDF(key, "svc backup encryption"), the 32-byte header
                         above as associated data, of:
                           4 bytes  length of the metadata
                           metadata JSON: cluster id, time, counts, svc version (for the restore's log)
                           the store as the leader gave it (BackupResponse.store, opaque here)

The key is 32 random bytes, shown once as `SVCBKP-<base32>` and stored nowhere. Nothing in the file
is trusted before the tag authenticates it with the key: the store is unpickled only after that.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
from typing import Any

from svc.errors import AlreadyExists, InvalidArgument

MAGIC = b"SVCBACKUP\x00"
FORMAT = 1
KEY_PREFIX = "SVCBKP-"
KEY_BYTES = 32
_HEAD = struct.Struct(">10sH8s12s")
HEADER_BYTES = _HEAD.size  # 32
_TAG_BYTES = 16


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def format_key(key: bytes) -> str:
    return KEY_PREFIX + base64.b32encode(key).decode().rstrip("=")


def parse_key(text: str) -> bytes:
    """The key from its printed form; refused in one line if it is not one."""
    t = "".join(text.split()).upper()
    if not t.startswith(KEY_PREFIX):
        raise InvalidArgument(f"the restore key is not a backup key: it starts with {KEY_PREFIX}")
    body = t[len(KEY_PREFIX) :]
    try:
        key = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidArgument(f"the restore key is not a backup key: {KEY_PREFIX} and 52 base32 characters")
    return key


def _derive(key: bytes, purpose: bytes, length: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"svc backup " + purpose).derive(key)


def seal(meta: dict[str, Any], store: bytes, key: bytes) -> bytes:
    """The file's bytes for `store` (and its metadata) under `key`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = _HEAD.pack(MAGIC, FORMAT, _derive(key, b"key check", 8), secrets.token_bytes(12))
    meta_raw = json.dumps(meta, sort_keys=True).encode()
    plain = struct.pack(">I", len(meta_raw)) + meta_raw + store
    return header + AESGCM(_derive(key, b"encryption", 32)).encrypt(header[-12:], plain, header)


def unseal(blob: bytes, key: bytes, name: str = "the file") -> tuple[dict[str, Any], bytes]:
    """(metadata, store) from a file's bytes; every way it can be wrong is one line."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if blob[: len(MAGIC)] != MAGIC:
        raise InvalidArgument(f"{name} is not an svc backup")
    if len(blob) < HEADER_BYTES + _TAG_BYTES + 4:
        raise InvalidArgument(f"{name} is damaged: cut short at {len(blob)} bytes")
    header = blob[:HEADER_BYTES]
    _, version, check, nonce = _HEAD.unpack(header)
    if version != FORMAT:
        raise InvalidArgument(f"{name} is a backup of format {version}; this svc reads format {FORMAT}")
    if not secrets.compare_digest(check, _derive(key, b"key check", 8)):
        raise InvalidArgument(f"the restore key is not the key of {name}")
    try:
        plain = AESGCM(_derive(key, b"encryption", 32)).decrypt(nonce, blob[HEADER_BYTES:], header)
    except InvalidTag:
        raise InvalidArgument(f"{name} is damaged: it does not authenticate with its key") from None
    (n,) = struct.unpack(">I", plain[:4])
    try:
        meta = json.loads(plain[4 : 4 + n])
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or len(plain) < 4 + n:
        raise InvalidArgument(f"{name} is damaged: its contents are not a backup's")  # authentic: a bug of ours
    return meta, plain[4 + n :]


def write(path: str, blob: bytes, force: bool = False) -> None:
    """Write the file 0600 and sync it; an existing file is kept unless `force` (each backup has its
    own key: replacing one silently would make the key kept for it useless)."""
    if force:
        tmp = f"{path}.tmp-{os.getpid()}"
        _write_new(tmp, blob)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            os.unlink(tmp)
            raise InvalidArgument(f"cannot write {path}: {exc.strerror}") from None
    else:
        _write_new(path, blob)
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # a file system without directory sync (vfat): the file itself is synced


def _write_new(path: str, blob: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} exists: give another file, or --force to replace it") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        os.unlink(path)  # never a half-written backup
        if isinstance(exc, OSError):
            raise InvalidArgument(f"cannot write {path}: {exc.strerror}") from None
        raise


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"cannot read backup {path}: {exc.strerror}") from None
