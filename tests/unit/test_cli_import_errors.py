"""`svc image import`'s errors name the user's file, on one line (the engine spools uploads elsewhere)."""

from __future__ import annotations

import pytest

from svc.cli.image import check_archive_file, in_users_words
from svc.errors import InvalidArgument


def test_the_spool_path_becomes_the_users_file() -> None:
    msg = "not an image archive: /var/lib/svc/node/images/tmp/tmpab12_x.import: unexpected end of data"
    assert in_users_words(msg, "/tmp/b.tar") == "not an image archive: /tmp/b.tar: unexpected end of data"
    tarfile_msg = "not a readable tar archive (file could not be opened successfully:\n- method gz: ReadError('x'))"
    assert in_users_words(tarfile_msg, "/etc/passwd") == "/etc/passwd: not a readable tar archive"
    assert in_users_words("the image archive is empty", "-") == "the archive on stdin: the image archive is empty"


def test_unreadable_files_are_refused_before_the_upload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=f"^no such file: {tmp_path}/missing.tar$"):
        check_archive_file(str(tmp_path / "missing.tar"))
    with pytest.raises(InvalidArgument, match="is a directory"):
        check_archive_file(str(tmp_path))
    (tmp_path / "ok.tar").write_bytes(b"x")
    check_archive_file(str(tmp_path / "ok.tar"))
    check_archive_file("-")
