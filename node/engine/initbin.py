"""The init `--init` runs as PID 1 (Docker's docker-init): the first static one found on the host.

Rule: docker-init, tini-static (Debian's `tini` package, which deploy/install.sh installs) or
catatonit, bind-mounted read-only at /sbin/docker-init; the container's command runs under it
(`/sbin/docker-init -- CMD`), so zombies are reaped and signals forwarded. A node without one refuses
such a container when it starts, naming the package.
"""

from __future__ import annotations

import os

from svc.errors import InvalidArgument

CANDIDATES = ("/usr/bin/docker-init", "/usr/bin/tini-static", "/usr/bin/catatonit", "/usr/libexec/podman/catatonit")


def find(candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The host's init binary; InvalidArgument if it has none."""
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise InvalidArgument("--init: this node has no init binary (install tini: apt-get install tini)")
