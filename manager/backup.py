"""The store as a backup carries it: `StoreState.to_plain()`, pickled and gzipped, as the snapshot
serializer writes it (store/raft.py), and back.

Reading it back unpickles only primitives (dict, list, str, bytes, numbers, None): a backup is
authenticated before it gets here (svc/backup.py), and even so it may name no class or function.
"""

from __future__ import annotations

import gzip
import io
import pickle
from typing import Any

from svc.errors import InvalidArgument

from .store.state import StoreState


def encode(doc: dict[str, Any]) -> bytes:
    """`doc` is `StoreState.to_plain()`."""
    return gzip.compress(pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL), compresslevel=6)


class _Primitives(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a backup may not name {module}.{name}")


def decode(raw: bytes, name: str = "the backup") -> dict[str, Any]:
    """The store document, checked by loading it: a cluster with its CA, secrets and Raft key."""
    try:
        doc = _Primitives(io.BytesIO(gzip.decompress(raw))).load()
        probe = StoreState()
        probe.load_plain(doc)
    except Exception as exc:  # authentic but unreadable: not ours, or a newer svc's
        raise InvalidArgument(f"{name} holds no store this svc can read ({type(exc).__name__})") from None
    c = probe.cluster
    if c is None or not (c.id and c.ca_cert_pem and c.ca_key_pem and c.raft_secret):
        raise InvalidArgument(f"{name} holds no initialized cluster")
    if doc.get("format") != 1:
        raise InvalidArgument(f"{name} holds a store of format {doc.get('format')}; this svc reads format 1")
    return dict(doc)
