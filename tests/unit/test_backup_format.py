"""Backups: the file format (svc/backup.py), the store inside it (manager/backup.py) and a restore's
first op (manager/bootstrap.py), without processes. The real thing: tests/integration/test_backup.py."""

from __future__ import annotations

import gzip
import os
import pickle
import stat
import struct

import pytest
from clusterfixtures import node, service, task

from manager import auth, bootstrap
from manager import backup as store_backup
from manager.ca import CertificateAuthority
from manager.store import ops
from manager.store.state import StoreState
from svc import backup
from svc.errors import AlreadyExists, InvalidArgument
from svc.v1 import cluster_pb2 as cpb

META = {"cluster_id": "c1", "created_at": 1.0}


def options(tmp_path, **kw) -> bootstrap.ManagerOptions:  # type: ignore[no-untyped-def]
    base = dict(
        data_dir=str(tmp_path / "data"),
        run_dir=str(tmp_path / "run"),
        listen_addr="127.0.0.1:4242",
        advertise_addr="",
        raft_port=4243,
        metrics_addr="",
        join="",
        token="",
        init=True,
        hostname="m",
        heartbeat_period=1.0,
        cert_lifetime=3600.0,
    )
    base.update(kw)
    return bootstrap.ManagerOptions(**base)  # type: ignore[arg-type]


def a_cluster(tmp_path) -> StoreState:  # type: ignore[no-untyped-def]
    """A store as a running cluster has it: a real CA and secrets, two managers, a worker, a service."""
    _, _, init_op = bootstrap.init_cluster(options(tmp_path))
    s = StoreState()
    assert s.apply(init_op)[0] == ""
    for name, role in (("m1", "manager"), ("m2", "manager"), ("w1", "worker")):
        s.apply(ops.node_register(node(name, role=role)))
    s.apply(ops.service_create("s1", cpb.ServiceSpec(name="web", replicas=2)))
    s.apply(ops.tasks_write(create=[task(service(), 1, "n-w1"), task(service(), 2, "n-w1")]))
    return s


# ----- the file -----


def test_the_key_prints_and_parses_back() -> None:
    key = backup.new_key()
    text = backup.format_key(key)
    assert text.startswith("SVCBKP-") and len(text) == 7 + 52 and "=" not in text
    assert backup.parse_key(text) == key
    assert backup.parse_key(f"  {text.lower()}\n") == key  # as pasted
    assert backup.new_key() != key
    for bad in ("", "SVCBKP-", text[:-1], text + "AA", "SWMTKN-1-abc", text[:10] + "1" + text[11:]):
        with pytest.raises(InvalidArgument, match="not a backup key"):
            backup.parse_key(bad)


def test_round_trip_and_the_header() -> None:
    key = backup.new_key()
    blob = backup.seal(META, b"the store", key)
    assert blob.startswith(backup.MAGIC) and struct.unpack(">H", blob[10:12]) == (backup.FORMAT,)
    assert b"the store" not in blob and b"c1" not in blob  # nothing readable without the key
    assert backup.unseal(blob, key) == (META, b"the store")
    other = backup.seal(META, b"the store", key)
    assert other != blob  # a fresh nonce per file


def test_a_wrong_key_is_told_from_a_damaged_file() -> None:
    key = backup.new_key()
    blob = backup.seal(META, b"x" * 1000, key)
    with pytest.raises(InvalidArgument, match="the restore key is not the key of F"):
        backup.unseal(blob, backup.new_key(), "F")


@pytest.mark.parametrize("where", [12 + 8, 12 + 8 + 11, backup.HEADER_BYTES, backup.HEADER_BYTES + 500, -1])
def test_every_flipped_byte_is_detected(where: int) -> None:
    """In the nonce (part of the associated data), the ciphertext, the tag: nothing gets through."""
    key = backup.new_key()
    blob = bytearray(backup.seal(META, b"x" * 1000, key))
    blob[where] ^= 0x01
    with pytest.raises(InvalidArgument, match="F is damaged: it does not authenticate"):
        backup.unseal(bytes(blob), key, "F")


def test_cut_short_foreign_and_future_files() -> None:
    key = backup.new_key()
    blob = backup.seal(META, b"x" * 100, key)
    with pytest.raises(InvalidArgument, match="F is damaged: cut short"):
        backup.unseal(blob[:40], key, "F")
    with pytest.raises(InvalidArgument, match="F is damaged: it does not authenticate"):
        backup.unseal(blob[:-1], key, "F")
    for foreign in (b"", b"hello", gzip.compress(b"x" * 100), os.urandom(4096), b"SVCBACKUP\x01" + blob[10:]):
        with pytest.raises(InvalidArgument, match="F is not an svc backup"):
            backup.unseal(foreign, key, "F")
    future = blob[:10] + struct.pack(">H", 2) + blob[12:]
    with pytest.raises(InvalidArgument, match="F is a backup of format 2; this svc reads format 1"):
        backup.unseal(future, key, "F")


def test_the_file_is_0600_and_never_replaced_by_accident(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "b.svcbackup")
    backup.write(path, b"one")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and backup.read(path) == b"one"
    with pytest.raises(AlreadyExists, match="exists: give another file, or --force"):
        backup.write(path, b"two")
    assert backup.read(path) == b"one"
    backup.write(path, b"two", force=True)
    assert backup.read(path) == b"two" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["b.svcbackup"]  # no temp file left
    with pytest.raises(InvalidArgument, match="cannot write"):
        backup.write(str(tmp_path / "no" / "such" / "dir"), b"x")
    with pytest.raises(InvalidArgument, match="cannot read backup"):
        backup.read(str(tmp_path / "missing"))


# ----- the store in it -----


def test_the_store_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = a_cluster(tmp_path)
    doc = store_backup.decode(store_backup.encode(s.to_plain()))
    t = StoreState()
    t.load_plain(doc)
    assert t.to_plain() == s.to_plain() and t.digest() == s.digest()


def test_a_store_may_name_no_class_or_function(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Even an authentic file is unpickled as primitives only: no code runs from it."""
    marker = tmp_path / "ran"
    evil = gzip.compress(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(InvalidArgument, match="holds no store this svc can read"):
        store_backup.decode(evil)
    assert not marker.exists()
    with pytest.raises(InvalidArgument, match="holds no store this svc can read"):
        store_backup.decode(b"not gzip")
    with pytest.raises(InvalidArgument, match="holds no initialized cluster"):
        store_backup.decode(store_backup.encode(StoreState().to_plain()))


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


# ----- restoring -----


def _file(tmp_path, s: StoreState, name: str = "cluster.svcbackup") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    assert s.cluster is not None
    key = backup.new_key()
    path = str(tmp_path / name)
    meta = {"cluster_id": s.cluster.id, "created_at": 1.0}
    backup.write(path, backup.seal(meta, store_backup.encode(s.to_plain()), key))
    return path, backup.format_key(key)


def test_a_restore_is_the_backups_cluster_with_a_new_manager(tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = a_cluster(tmp_path)
    assert old.cluster is not None
    path, key = _file(tmp_path, old)
    opts = options(tmp_path, restore=path, restore_key=key)
    assert bootstrap.check_fresh(opts) is None
    doc = bootstrap.read_backup(opts)
    state, identity, op = bootstrap.restore_cluster(opts, doc)
    assert state.cluster_id == old.cluster.id
    assert state.raft_secret and state.raft_secret != old.cluster.raft_secret  # a new Raft key
    assert state.node_id not in old.nodes and state.peers == [state.raft_addr]
    assert identity.cluster_id == old.cluster.id and identity.role == "manager"
    assert identity.ca_pem == old.cluster.ca_cert_pem  # issued by the backup's CA
    CertificateAuthority(old.cluster.ca_cert_pem, old.cluster.ca_key_pem)  # (and the CA key came along)

    new = StoreState()
    code, gone = new.apply(op)
    assert code == "" and gone == ["n-m1", "n-m2"]  # every old manager leaves, revoked
    assert new.cluster is not None and {"n-m1", "n-m2"} <= new.cluster.removed_nodes
    assert sorted(new.nodes) == ["n-w1"] and list(new.services) == ["s1"] and len(new.tasks) == 2
    for field in ("worker_secret", "manager_secret", "ca_key_pem", "heartbeat_period", "cert_lifetime"):
        assert getattr(new.cluster, field) == getattr(old.cluster, field)
    assert new.cluster.raft_secret == state.raft_secret
    assert not os.path.exists(opts.home), "reading and checking a backup wrote something"


def test_bad_restores_are_refused_before_anything_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, key = _file(tmp_path, a_cluster(tmp_path))
    cases = [
        (dict(init=False, restore=path, restore_key=key), "it needs --init"),
        (dict(restore=path), "--restore needs the key `svc cluster backup` printed"),
        (dict(restore_key=key), "--restore-key is the key of a backup: it needs --restore FILE"),
        (dict(init=False, join="x:1", restore=path, restore_key=key), "needs --init"),
    ]
    for kw, message in cases:
        with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
            bootstrap.check_fresh(options(tmp_path, **kw))
    wrong = backup.format_key(backup.new_key())
    with pytest.raises(InvalidArgument, match="the restore key is not the key of"):
        bootstrap.read_backup(options(tmp_path, restore=path, restore_key=wrong))
    with pytest.raises(InvalidArgument, match="cannot read backup"):
        bootstrap.read_backup(options(tmp_path, restore=path + ".missing", restore_key=key))
    empty, empty_key = _file(tmp_path, _uninitialized(), "no-ca.svcbackup")
    with pytest.raises(InvalidArgument, match="holds no initialized cluster"):
        bootstrap.read_backup(options(tmp_path, restore=empty, restore_key=empty_key))
    assert not os.path.exists(options(tmp_path).home)


def _uninitialized() -> StoreState:
    s = StoreState()
    s.apply(ops.cluster_init({"id": "c1"}))  # a cluster without a CA: not one a manager made
    return s


def test_only_admins_and_managers_may_take_a_backup() -> None:
    roles = auth.allowed_roles("/svc.v1.Control/Backup")
    assert roles == {auth.ADMIN, auth.MANAGER}  # managers: a follower forwards to the leader as itself
    assert auth.WORKER not in roles and auth.ANONYMOUS not in roles
