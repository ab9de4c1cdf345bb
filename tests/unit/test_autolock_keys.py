"""Autolock's keys at rest (svc/keywrap.py, manager/bootstrap.py ManagerState): the unlock key's format, sealing
and a wrong key, the sealed state files, and the Raft journal's and snapshot's at-rest encryption."""

from __future__ import annotations

import os
import re

import pytest

from manager import ca as ca_mod
from manager.bootstrap import ManagerState
from manager.store import ops
from manager.store.journal import DurableJournal
from manager.store.raft import SNAPSHOT_MAGIC, read_snapshot
from svc import keywrap
from svc.errors import InvalidArgument


def test_unlock_key_format_and_parse() -> None:
    key = keywrap.new_unlock_key()
    assert re.fullmatch(r"SWMKEY-1-[A-Z2-7]{52}", key)
    assert len(keywrap.parse_unlock_key(key)) == 32
    assert keywrap.parse_unlock_key(" " + key.lower().replace("swmkey", "SWMKEY") + "\n")
    assert keywrap.new_unlock_key() != key
    for bad in ("", "SWMTKN-1-abc", "SWMKEY-1-", "SWMKEY-1-!!!", key[:-4]):
        with pytest.raises(InvalidArgument):
            keywrap.parse_unlock_key(bad)


def test_seal_round_trip_wrong_key_and_tamper() -> None:
    key, other = keywrap.new_unlock_key(), keywrap.new_unlock_key()
    blob = keywrap.seal(key, b"secret material")
    assert keywrap.is_sealed(blob) and b"secret material" not in blob
    assert keywrap.unseal(key, blob) == b"secret material"
    assert keywrap.seal(key, b"secret material") != blob  # a fresh nonce each time
    with pytest.raises(keywrap.WrongKey, match="stays locked"):
        keywrap.unseal(other, blob)
    for i in range(len(keywrap.SEAL_MAGIC), len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 1
        with pytest.raises(keywrap.WrongKey):
            keywrap.unseal(key, bytes(flipped))
    with pytest.raises(InvalidArgument):
        keywrap.unseal(key, b"plain")


def _identity() -> tuple[ca_mod.CertificateAuthority, object]:
    authority = ca_mod.CertificateAuthority(*ca_mod.create_root("c1"))
    return authority, authority.identity("n1", "manager", 3600)


def _tree_bytes(root: str) -> bytes:
    out = b""
    for d, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out += fh.read()
    return out


def test_sealed_state_holds_nothing_in_the_clear_and_reopens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = str(tmp_path / "manager")
    _, ident = _identity()
    secret = "ab" * 32
    st = ManagerState("c1", "n1", "h:4242", "h:4243", secret, ["h:4243"])
    st.identity = ident  # type: ignore[assignment]
    st.save(home)
    assert os.path.exists(os.path.join(home, "tls", "key.pem"))
    assert secret.encode() in _tree_bytes(home)

    key = keywrap.new_unlock_key()
    st.unlock_key = key
    st.save(home)
    raw = _tree_bytes(home)
    key_body = b"".join(ident.key_pem.splitlines()[1:-1])  # type: ignore[attr-defined]
    assert secret.encode() not in raw and b"PRIVATE KEY" not in raw and key_body[:40] not in raw
    assert not os.path.exists(os.path.join(home, "tls", "key.pem"))

    loaded = ManagerState.load(home)
    assert loaded is not None and loaded.locked and loaded.raft_secret == ""
    with pytest.raises(keywrap.WrongKey):
        loaded.unlock(home, keywrap.new_unlock_key())
    assert loaded.locked  # a wrong key changes nothing
    opened = loaded.unlock(home, key)
    assert not loaded.locked and loaded.raft_secret == secret
    assert opened.key_pem == ident.key_pem and opened.cert_pem == ident.cert_pem  # type: ignore[attr-defined]

    rotated = keywrap.new_unlock_key()  # rotate: the old key no longer opens it
    loaded.unlock_key = rotated
    loaded.save(home)
    again = ManagerState.load(home)
    assert again is not None
    with pytest.raises(keywrap.WrongKey):
        again.unlock(home, key)
    again.unlock(home, rotated)

    again.unlock_key = ""  # autolock off: in the clear again
    again.save(home)
    clear = ManagerState.load(home)
    assert clear is not None and not clear.locked and clear.raft_secret == secret and clear.sealed == ""
    with open(os.path.join(home, "tls", "key.pem"), "rb") as f:
        assert f.read() == ident.key_pem  # type: ignore[attr-defined]


def test_journal_records_are_encrypted_and_reopen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cipher = keywrap.AtRest("cd" * 32)
    path, snap = str(tmp_path / "raft.wal"), str(tmp_path / "raft.snapshot")
    j = DurableJournal(path, snap, cipher)
    commands = [b"\x00" + b"ca_key_pem=-----BEGIN PRIVATE KEY----- %d" % i for i in range(5)]
    for i, c in enumerate(commands):
        j.add(c, i + 1, 1)
    j.sync()
    j.deleteEntriesTo(1)  # compaction rewrites the file: still encrypted
    j._destroy()
    with open(path, "rb") as f:
        raw = f.read()
    assert b"PRIVATE KEY" not in raw and b"ca_key_pem" not in raw
    j = DurableJournal(path, snap, cipher)
    assert [e[0] for e in j[:]] == commands[1:]
    j._destroy()
    with pytest.raises(ValueError, match="needs the cluster's Raft key"):
        DurableJournal(path, snap)
    with pytest.raises(ValueError, match="does not authenticate"):
        DurableJournal(path, snap, keywrap.AtRest("ef" * 32))


def test_journal_written_before_encryption_is_still_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, snap = str(tmp_path / "raft.wal"), str(tmp_path / "raft.snapshot")
    j = DurableJournal(path, snap)
    j.add(b"\x00old", 1, 1)
    j.sync()
    j._destroy()
    j = DurableJournal(path, snap, keywrap.AtRest("cd" * 32))
    j.add(b"\x00new", 2, 1)
    j.sync()
    j._destroy()
    j = DurableJournal(path, snap, keywrap.AtRest("cd" * 32))
    assert [e[0] for e in j[:]] == [b"\x00old", b"\x00new"]
    j._destroy()


def test_snapshot_blob(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import gzip
    import pickle

    cipher = keywrap.AtRest("cd" * 32)
    doc = {"format": 1, "state": {"ca_key_pem": b"-----BEGIN PRIVATE KEY-----"}, "raft": None}
    path = str(tmp_path / "raft.snapshot")
    with open(path, "wb") as f:
        f.write(cipher.blob(gzip.compress(pickle.dumps(doc)), SNAPSHOT_MAGIC))
    with open(path, "rb") as f:
        assert b"PRIVATE" not in f.read()
    assert read_snapshot(path, cipher) == doc
    with pytest.raises(ValueError):
        read_snapshot(path, keywrap.AtRest("ef" * 32))
    with pytest.raises(ValueError):
        read_snapshot(path, None)
    with open(path, "wb") as f:  # a snapshot written before encryption
        f.write(gzip.compress(pickle.dumps(doc)))
    assert read_snapshot(path, cipher) == doc


def test_unlock_key_is_a_cluster_setting() -> None:
    from manager.store.state import StoreState

    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1", "worker_secret": "w", "manager_secret": "m", "raft_secret": "r"}))
    assert s.cluster is not None
    key = keywrap.new_unlock_key()
    s.apply(ops.cluster_update(s.cluster.version, unlock_key=key))
    assert s.cluster.unlock_key == key
    plain = s.to_plain()
    t = StoreState()
    t.load_plain(plain)
    assert t.cluster is not None and t.cluster.unlock_key == key


def test_a_real_raft_store_writes_its_journal_and_snapshot_encrypted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import socket

    from manager.store.raft import RaftStore, load_offline
    from manager.store.state import StoreState

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"127.0.0.1:{s.getsockname()[1]}"
    secret = "9f" * 32
    ca_pem, ca_key = ca_mod.create_root("c1")
    raft_dir = os.path.join(str(tmp_path), "raft")
    state = StoreState()
    raft = RaftStore(state, addr, [addr], raft_dir, secret)
    raft.start()

    async def scenario() -> None:
        for _ in range(200):
            if raft.is_leader:
                break
            await asyncio.sleep(0.05)
        await raft.write(
            ops.cluster_init({"id": "c1", "raft_secret": secret, "ca_key_pem": ca_key, "worker_secret": "w" * 30})
        )

    try:
        asyncio.run(scenario())
        snap = os.path.join(str(tmp_path), "snap")
        raft._serialize(snap, (b"", 1, 1))
        assert raft._deserialize(snap) == (b"", 1, 1)
    finally:
        raft.close()
    body = ca_key.splitlines()[1]
    for path in (os.path.join(raft_dir, "raft.wal"), snap):
        with open(path, "rb") as f:
            raw = f.read()
        assert body not in raw and secret.encode() not in raw and b"w" * 30 not in raw, path
    assert read_snapshot(snap, keywrap.AtRest(secret))["state"]["cluster"]["ca_key_pem"] == ca_key
    recovered = load_offline(raft_dir, secret)  # what --force-new-cluster reads
    assert recovered.cluster is not None and recovered.cluster.ca_key_pem == ca_key
    with pytest.raises(ValueError):
        load_offline(raft_dir)
    assert ca_pem
