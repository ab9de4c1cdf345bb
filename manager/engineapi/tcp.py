"""The Engine API over TCP with the cluster's mutual TLS: `docker --tlsverify` with a client bundle.

The rule: the same app as the unix socket, reachable only with an admin's certificate from the
cluster's CA (`svc cluster client-bundle DIR` writes ca.pem, cert.pem and key.pem, the names docker
reads from DOCKER_CERT_PATH). The handshake requires a certificate from the cluster's roots; a node's
or a manager's is refused (403) on every request, as the control API refuses them an admin's calls.
The server's certificate is this manager's, issued for the names docker checks (the listen address,
the advertised address, the hostname, loopback), and renewed at half its lifetime.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import tempfile

from aiohttp import web

from svc import defaults, tls
from svc.dockerapi.http import Handler, error
from svc.errors import Unavailable

from ..core import Manager

log = logging.getLogger(__name__)


def server_names(m: Manager, host: str) -> tuple[str, ...]:
    """The names the serving certificate carries besides the managers' own TLS name."""
    names = [m.api_addr.rsplit(":", 1)[0].strip("[]"), m.hostname, "localhost", "127.0.0.1", "::1"]
    try:
        if not ipaddress.ip_address(host).is_unspecified:
            names.insert(0, host)
    except ValueError:
        if host:
            names.insert(0, host)  # a DNS name
    return tuple(dict.fromkeys(n for n in names if n))


def _load(ctx: ssl.SSLContext, identity: tls.Identity) -> None:
    # The ssl module loads a key only from a file: a private one, in memory where /dev/shm exists, gone at once.
    where = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.NamedTemporaryFile(prefix="svc-docker-tls-", suffix=".pem", dir=where) as f:
        os.chmod(f.name, 0o600)
        f.write(identity.cert_pem + b"\n" + identity.key_pem)
        f.flush()
        ctx.load_cert_chain(f.name)


class TLSServing:
    """The serving certificate and the context the TCP site uses; `renew` keeps it fresh."""

    def __init__(self, m: Manager, host: str) -> None:
        self.m = m
        self.names = server_names(m, host)
        # Until the cluster's CA is in this manager's store (a fresh --init commits it just after start-up,
        # a joining manager receives it by Raft), the manager's own certificate serves: bound at once.
        self.context = tls.ssl_context(m.identity, server=True)
        self.context.verify_mode = ssl.CERT_REQUIRED

    def _issue(self) -> tuple[tls.Identity, float]:
        cluster = self.m.cluster
        lifetime = (cluster.cert_lifetime if cluster else 0.0) or defaults.CERT_LIFETIME_SECONDS
        return self.m.ca().identity(self.m.node_id, "manager", lifetime, self.names), lifetime

    async def renew(self) -> None:
        """A certificate for the names now, then again at half its lifetime."""
        while True:
            try:
                identity, lifetime = self._issue()
            except Unavailable:  # no CA yet
                await asyncio.sleep(0.2)
                continue
            try:
                self.context.load_verify_locations(cadata=identity.ca_pem.decode())  # a rotated root too
                _load(self.context, identity)
            except (ssl.SSLError, OSError) as exc:  # the current one serves on; try again sooner
                log.warning("Docker API TLS certificate not renewed: %s", exc)
                await asyncio.sleep(60)
                continue
            log.info("Docker API TLS certificate for %s, renewed in %.0f s", ", ".join(self.names), lifetime / 2)
            await asyncio.sleep(lifetime / 2)


@web.middleware
async def admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The TCP app's first check: an admin's certificate (the unix socket is root's, an admin already)."""
    transport = request.transport
    role = tls.peer_role(transport.get_extra_info("peercert")) if transport is not None else ""
    if role != "admin":
        return error(
            403, f"a {role or 'client'} certificate may not use the Docker API: use `svc cluster client-bundle DIR`"
        )
    return await handler(request)
