"""Joining a cluster with a token: pin the CA, send a certificate request, keep the certificate.

Used by `svcd node --join` and `svcd manager --join`.
"""

from __future__ import annotations

import asyncio

from svc import defaults, tls
from svc.errors import InvalidArgument, PermissionDenied
from svc.netaddr import split_addr


def join_address(api_addr: str) -> str:
    """Token joins go to the manager's join port: its API port + 2 (the API port wants a client certificate)."""
    host, port = split_addr(api_addr, "manager address")
    return f"{host}:{port + defaults.JOIN_PORT_OFFSET}"


async def obtain_identity(addr: str, token: str, host: str, want_role: str) -> tls.Identity:
    """Join with a token: pin the CA from the token, send a CSR, receive a certificate."""
    from svc.rpc import error_from_rpc
    from svc.v1 import ca_pb2 as capb
    from svc.v1 import ca_pb2_grpc as capb_grpc

    if not addr:
        raise InvalidArgument("--join needs a manager address HOST:PORT")
    digest, _ = tls.parse_token(token)
    join_addr = join_address(addr)
    ca_pem = await asyncio.to_thread(tls.fetch_ca, join_addr, digest)
    key, key_pem = tls.new_key()
    channel = tls.secure_channel(join_addr, None, ca_pem=ca_pem)
    try:
        resp = await capb_grpc.NodeCAStub(channel).IssueCertificate(
            capb.IssueCertificateRequest(token=token, csr_pem=tls.new_csr(key), hostname=host),
            timeout=defaults.JOIN_TIMEOUT_SECONDS,
        )
    except Exception as exc:
        if hasattr(exc, "code"):
            raise error_from_rpc(exc) from None  # type: ignore[arg-type]
        raise
    finally:
        await channel.close()
    if resp.role != want_role:
        hint = "svcd node --join" if resp.role == "worker" else "svcd manager --join"
        raise PermissionDenied(f"that is a {resp.role} token: use it with `{hint}`")
    return tls.Identity(ca_pem=resp.ca_pem, cert_pem=resp.cert_pem, key_pem=key_pem)
