"""A credential replaced while another process reads it (svc.tls.Identity.publish, svc.control).

The local CLI reads the manager's admin credential while the manager reissues it (a CA rotation) or
moves it (autolock on or off). Readers must see a whole set, old or new, and always some set."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from svc import control, defaults, tls

ROUNDS = 300  # bounded: each round is one swap


def _identity(n: int) -> tls.Identity:
    return tls.Identity(ca_pem=b"ca-%d" % n, cert_pem=b"cert-%d" % n, key_pem=b"key-%d" % n)


def _whole(identity: tls.Identity | None) -> bool:
    if identity is None:
        return False
    n = identity.ca_pem.removeprefix(b"ca-")
    return identity.cert_pem == b"cert-" + n and identity.key_pem == b"key-" + n


def test_publish_replaces_a_set_and_leaves_only_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = str(tmp_path / "admin")
    _identity(1).save(where)  # a plain directory, as an older manager wrote it
    _identity(2).publish(where)
    assert tls.Identity.load(where) == _identity(2)
    _identity(3).publish(where)
    assert tls.Identity.load(where) == _identity(3)
    assert os.path.islink(where)
    assert sorted(os.listdir(tmp_path)) == sorted(["admin", os.readlink(where)])
    assert os.stat(os.path.join(where, "key.pem")).st_mode & 0o777 == 0o600
    tls.remove(where)
    assert os.listdir(tmp_path) == []
    assert tls.Identity.load(where) is None


def test_remove_sweeps_a_set_a_cut_off_publish_left(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = str(tmp_path / "admin")
    _identity(1).publish(where)
    _identity(9).save(str(tmp_path / ".admin.leftover"))
    _identity(2).publish(where)
    assert sorted(os.listdir(tmp_path)) == sorted(["admin", os.readlink(where)])
    tls.remove(str(tmp_path / "other"))  # nothing there: not an error
    tls.remove(where)
    assert os.listdir(tmp_path) == []


def _bad_reads_while(read: Callable[[], tls.Identity | None], write: Callable[[int], None]) -> list[object]:
    """What `read` returned that was not one whole set, while `write(n)` ran for each round."""
    done = threading.Event()
    bad: list[object] = []

    def reader() -> None:
        while not done.is_set():
            got = read()
            if not _whole(got):
                bad.append(got)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, ROUNDS):
            write(n)
    finally:
        done.set()
        thread.join(timeout=30)
    return bad


def test_a_reader_never_sees_a_mixed_or_missing_set_while_it_is_republished(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = str(tmp_path / "admin")
    _identity(0).publish(where)
    assert _bad_reads_while(lambda: tls.Identity.load(where), lambda n: _identity(n).publish(where)) == []


def test_the_cli_follows_the_credential_when_the_manager_moves_it(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """upkeep.local_admin's order: the new place, then the pointer, then removing the old place."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.setenv("SVC_RUN_DIR", str(run_dir))
    pointer = str(run_dir / defaults.MANAGER_CREDS_FILE)
    places = [str(tmp_path / "data" / "admin"), str(run_dir / "admin")]

    def move(n: int) -> None:
        here, other = places[n % 2], places[(n + 1) % 2]
        _identity(n).publish(here)
        with open(pointer + ".tmp", "w") as f:
            f.write(here + "\n")
        os.replace(pointer + ".tmp", pointer)
        tls.remove(other)

    move(0)
    assert _bad_reads_while(control._local_admin, move) == []


def test_no_pointer_no_credential(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SVC_RUN_DIR", str(tmp_path))
    assert control._local_admin() is None
    (tmp_path / defaults.MANAGER_CREDS_FILE).write_text(str(tmp_path / "gone") + "\n")
    assert control._local_admin() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory root cannot read as another user")
def test_an_unreadable_credential_names_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = str(tmp_path / "admin")
    _identity(1).publish(where)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by exit code
        os.setuid(65534)
        try:
            tls.Identity.load(where)
        except Exception as exc:
            os._exit(0 if "run as root" in str(exc) else 2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
