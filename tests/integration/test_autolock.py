"""Autolock (issue #12, item 5): `svc cluster update --autolock=true` prints an unlock key once; from then on
the managers' Raft secret and TLS keys are sealed with it and a restarted manager waits, locked, for
`svc cluster unlock` (a wrong key refused in one line). Nothing in a manager's data dir reveals the CA key,
the Raft secret, the join secrets or a TLS key. Rotating the key makes the old one useless; turning autolock
off puts the keys back in the clear."""

from __future__ import annotations

import json
import os
import re

import pytest
from helpers import poll, run_cli

from svc import backup as sealed
from svc import keywrap

pytestmark = pytest.mark.root

KEY_RE = r"SWMKEY-1-[A-Z2-7]{52}"


def _state(h) -> dict:  # type: ignore[no-untyped-def]
    with open(os.path.join(h.data_dir, "manager", "state.json")) as f:
        return dict(json.load(f))


def _local(h, *args: str, key: str | None = None):  # type: ignore[no-untyped-def]
    """`svc` as root on the manager's host: its run dir, no --host."""
    env = {"SVC_RUN_DIR": h.run_dir, "SVC_HOST": "", "SVC_TLS_DIR": ""}
    return run_cli(*args, env=env, input=(key + "\n").encode() if key is not None else None)


def _sealed_everywhere(c, managers) -> bool:  # type: ignore[no-untyped-def]
    return all(
        _state(h).get("sealed")
        and not os.path.exists(os.path.join(h.data_dir, "manager", "tls", "key.pem"))
        and not os.path.exists(h.admin_dir)
        for h in managers
    )


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[p] = f.read()
    return out


def _pem_body(pem: bytes) -> list[bytes]:
    return [line for line in pem.splitlines() if line and not line.startswith(b"-----")]


def _restart_locked(c, h) -> None:  # type: ignore[no-untyped-def]
    c.kill9(h, "manager")
    c.start_manager(h, wait=False)
    sock = os.path.join(h.run_dir, keywrap.UNLOCK_SOCKET_NAME)
    poll(lambda: os.path.exists(sock), 60, what=f"manager {h.name} to wait, locked")


def test_autolock_seal_unlock_rotate_disable(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m1 = c.start_manager(c.add_host())
    m2 = c.start_manager(c.add_host(), join=m1)
    m3 = c.start_manager(c.add_host(), join=m1)
    managers = [m1, m2, m3]
    poll(lambda: c.ok("cluster", "info").count("raft ") == 3, 60, what="3 managers")

    # What must never be on disk in the clear once autolock is on: from a backup (the CA key, the Raft and
    # join secrets), and the managers' own TLS keys and the local admin keys.
    from manager import backup as store_backup

    bfile = str(tmp_path / "b.svcbackup")
    bkey = c.ok("cluster", "backup", "-q", bfile).strip()
    _, raw = sealed.unseal(sealed.read(bfile), sealed.parse_key(bkey), bfile)
    cluster = store_backup.decode(raw, bfile)["cluster"]
    needles: dict[str, bytes] = {
        "the raft secret": cluster["raft_secret"].encode(),
        "the worker join secret": cluster["worker_secret"].encode(),
        "the manager join secret": cluster["manager_secret"].encode(),
    }
    for i, line in enumerate(_pem_body(cluster["ca_key_pem"])):
        needles[f"the CA key, line {i}"] = line
    for h in managers:
        for which in ("tls", "admin"):
            with open(os.path.join(h.data_dir, "manager", which, "key.pem"), "rb") as f:
                for i, line in enumerate(_pem_body(f.read())):
                    needles[f"{h.name}'s {which} key, line {i}"] = line
    bundle = str(tmp_path / "bundle")
    c.ok("cluster", "client-bundle", bundle)
    c.tls_dir = bundle  # the managers' local admin credential leaves the data dir with autolock

    # The Raft journal is encrypted at rest from the start: no store secret in it even before autolock.
    for h in managers:
        wal = os.path.join(h.data_dir, "manager", "raft", "raft.wal")
        with open(wal, "rb") as f:
            data = f.read()
        assert cluster["ca_key_pem"].splitlines()[1] not in data and needles["the raft secret"] not in data

    r = c.cli(None, "cluster", "unlock-key")
    assert r.returncode != 0 and "autolock is off" in r.stderr, r.stderr

    out = c.ok("cluster", "update", "--autolock=true")
    keys = re.findall(KEY_RE, out)
    assert len(keys) == 1, out
    key = keys[0]
    again = c.ok("cluster", "update", "--autolock=true")  # shown once: a second `on` prints no key
    assert not re.search(KEY_RE, again) and "unchanged" in again
    assert c.ok("cluster", "unlock-key", "-q").strip() == key
    assert re.search(r"^Autolock:\s+on$", c.ok("cluster", "info"), re.M)
    poll(lambda: _sealed_everywhere(c, managers), 30, what="every manager to seal its keys")
    for h in managers:
        assert os.path.exists(os.path.join(h.run_dir, "admin", "key.pem"))  # the local CLI's, in the run dir
    for h in managers:
        for path, data in _files(h.data_dir).items():
            for what, needle in needles.items():
                assert needle not in data, f"{what} is in the clear in {path}"

    # A restarted manager stays locked: no API, a clear message locally, a wrong key refused.
    _restart_locked(c, m2)
    r = _local(m2, "cluster", "info")
    assert r.returncode != 0 and "locked" in r.stderr and "svc cluster unlock" in r.stderr, r.stderr
    assert c.cli(m2, "cluster", "info").returncode != 0  # nothing on its API port
    wrong = keywrap.new_unlock_key()
    r = _local(m2, "cluster", "unlock", key=wrong)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "not this manager's" in r.stderr and wrong not in r.stderr + r.stdout
    r = _local(m2, "cluster", "unlock", key="SWMKEY-1-nonsense")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "invalid unlock key" in r.stderr
    assert os.path.exists(os.path.join(m2.run_dir, keywrap.UNLOCK_SOCKET_NAME))  # still locked
    assert c.cli(m2, "cluster", "info").returncode != 0
    r = _local(m2, "cluster", "unlock", key=key)
    assert r.returncode == 0, r.stderr
    poll(lambda: c.cli(m2, "cluster", "info").returncode == 0, 60, what="the unlocked manager to answer")
    poll(lambda: _local(m2, "cluster", "info").returncode == 0, 30, what="the local CLI on the unlocked manager")
    r = _local(m2, "cluster", "unlock", key=key)
    assert r.returncode != 0 and "no locked manager" in r.stderr
    assert "locked (autolock is on)" in m2.manager.log() and key not in m2.manager.log()

    # Rotation: every manager re-seals; the old key no longer opens a restarted one.
    before = {h.name: _state(h)["sealed"] for h in managers}
    new = c.ok("cluster", "unlock-key", "--rotate", "-q").strip()
    assert re.fullmatch(KEY_RE, new) and new != key
    assert c.ok("cluster", "unlock-key", "-q").strip() == new
    poll(lambda: all(_state(h)["sealed"] != before[h.name] for h in managers), 30, what="every manager to re-seal")
    _restart_locked(c, m3)
    r = _local(m3, "cluster", "unlock", key=key)
    assert r.returncode != 0 and "not this manager's" in r.stderr, r.stderr
    r = _local(m3, "cluster", "unlock", key=new)
    assert r.returncode == 0, r.stderr
    poll(lambda: c.cli(m3, "cluster", "info").returncode == 0, 60, what="m3 unlocked with the new key")
    c.ok("create", "--name", "web", "--replicas", "0", "busybox", "true")  # the cluster writes
    assert "web" in c.ok("ls", via=m3)

    # Off: the keys are in the clear again, and a restart needs no key.
    out = c.ok("cluster", "update", "--autolock=false")
    assert "off" in out and not re.search(KEY_RE, out)
    poll(
        lambda: all(
            not _state(h).get("sealed") and os.path.exists(os.path.join(h.data_dir, "manager", "tls", "key.pem"))
            for h in managers
        ),
        30,
        what="every manager to put its keys back in the clear",
    )
    r = c.cli(None, "cluster", "unlock-key")
    assert r.returncode != 0 and "autolock is off" in r.stderr
    assert re.search(r"^Autolock:\s+off$", c.ok("cluster", "info"), re.M)
    c.kill9(m1, "manager")
    c.start_manager(m1)  # (waits for it to answer: no unlock needed)
    assert not os.path.exists(os.path.join(m1.run_dir, keywrap.UNLOCK_SOCKET_NAME))
    poll(lambda: c.ok("cluster", "info").count("raft ") == 3, 60, what="3 managers again")
