"""A UDP service for the mesh tests: busybox has no UDP server, so `udpecho.c` (beside this file)
is built static by the host's C compiler into an image of busybox plus `/bin/udpecho`; and the
test process's side, one datagram out and its answer back.

`udpecho PORT` answers each datagram with "<hostname> <sender's address>" from the address the
datagram was sent to (IP_PKTINFO, as DNS servers answer); `udpecho PORT naive` lets the kernel
choose the source of a plain `sendto` instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

from imagebuild import Entry, busybox_entries, write_rootfs_tar

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udpecho.c")


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def build_image(directory: str) -> str:
    """A rootfs tarball of busybox and /bin/udpecho, in `directory`."""
    cc = compiler()
    assert cc, "no C compiler"
    binary = os.path.join(directory, "udpecho")
    subprocess.run([cc, "-static", "-Os", "-o", binary, SOURCE], check=True, capture_output=True, timeout=120)
    with open(binary, "rb") as f:
        data = f.read()
    entries = [*busybox_entries(), Entry("bin/udpecho", data, 0o755)]
    return write_rootfs_tar(os.path.join(directory, "udpecho-rootfs.tar"), entries)


def ask(addr: str, port: int, timeout: float = 2.0) -> tuple[str, str]:
    """(the answering task's hostname, the address it saw) for one datagram; ("", "") when no
    answer comes. The socket is connected: an answer from any other address than asked is dropped."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((addr, port))
        try:
            s.send(b"?")
            name, _, peer = s.recv(512).decode().strip().partition(" ")
        except OSError:
            return "", ""
    return name, peer
