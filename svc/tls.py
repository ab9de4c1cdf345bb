"""Identities on disk, join tokens, and gRPC credentials for mutual TLS.

Every daemon and every remote CLI has an identity: a key, a certificate naming its node id
(CN), role (OU: worker, manager or admin) and cluster id (O), and the cluster's root CA.
Files are written 0600 under the owner's directory. Join tokens look like Swarm's:
`SWMTKN-1-<CA digest>-<secret>`; the digest lets a joining host check the manager it talks
to before it trusts it.

cryptography is imported where a function needs it, not with the module: the CLI's every call
loads this module for `Identity.load` and `secure_channel`, which need none of it, and importing
cryptography's x509 costs more than the rest of a `svc ls`.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import TYPE_CHECKING, Any, NamedTuple

from svc import defaults
from svc.errors import InvalidArgument, Unauthenticated, Unavailable
from svc.fsutil import fsync_dir, write_atomic

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

TOKEN_PREFIX = "SWMTKN-1-"
ROLES = ("worker", "manager", "admin")


# Immutable; a NamedTuple rather than a frozen dataclass: every CLI command imports this module, and
# dataclasses (with inspect) would cost it ~8 ms.
class Identity(NamedTuple):
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def node_id(self) -> str:
        from cryptography.x509.oid import NameOID

        return subject_field(self.cert, NameOID.COMMON_NAME)

    @property
    def role(self) -> str:
        from cryptography.x509.oid import NameOID

        return subject_field(self.cert, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @property
    def cluster_id(self) -> str:
        from cryptography.x509.oid import NameOID

        return subject_field(self.cert, NameOID.ORGANIZATION_NAME)

    @property
    def expires_at(self) -> float:
        return self.cert.not_valid_after_utc.timestamp()

    @property
    def issued_at(self) -> float:
        return self.cert.not_valid_before_utc.timestamp()

    def save(self, directory: str) -> None:
        """Write the three files into `directory` (a client bundle). A reader in another process may see
        one file new and the next old while this runs: for a credential that is replaced while others
        read it, use `publish`."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        write_atomic(os.path.join(directory, "key.pem"), self.key_pem, mode=0o600)
        write_atomic(os.path.join(directory, "cert.pem"), self.cert_pem, mode=0o600)
        write_atomic(os.path.join(directory, "ca.pem"), self.ca_pem, mode=0o600)

    def publish(self, directory: str) -> None:
        """Replace the credential at `directory` as one: `directory` becomes a symlink to a sibling that
        holds the three files, swapped by rename(2), so a reader sees the old set or the new one, never
        one's key with the other's certificate (the local CLI reads the admin credential while the
        manager reissues it for a new CA). A set is never written to once published; the old one is
        removed after the swap, and a reader caught inside it reads again (`load`)."""
        import shutil
        import tempfile

        parent, name = os.path.split(os.path.abspath(directory))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        fresh = tempfile.mkdtemp(prefix=f".{name}.", dir=parent)
        try:
            self.save(fresh)
            if os.path.isdir(directory) and not os.path.islink(directory):
                shutil.rmtree(directory)  # a plain directory (written by `save`): replaced once, not as one
            link = fresh + ".link"
            os.symlink(os.path.basename(fresh), link)
            os.replace(link, directory)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        fsync_dir(parent)
        _sweep(directory, keep=fresh)

    @classmethod
    def load(cls, directory: str) -> Identity | None:
        """The credential in `directory`, or None if there is none. The three files are read through one
        open of the directory, so a `publish` that swaps it meanwhile cannot mix two sets; one that
        removes the set being read sends this round again, to the new one."""
        for _ in range(_LOAD_ATTEMPTS):
            try:
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                return None
            except PermissionError:
                raise Unauthenticated(f"cannot read the credential in {directory}: run as root") from None
            try:
                ca, cert, key = (_read_at(fd, name) for name in ("ca.pem", "cert.pem", "key.pem"))
                return cls(ca_pem=ca, cert_pem=cert, key_pem=key)
            except FileNotFoundError:
                continue  # an incomplete directory, or a set removed while read: look again
            except PermissionError:
                raise Unauthenticated(f"cannot read the credential in {directory}: run as root") from None
            finally:
                os.close(fd)
        return None


_LOAD_ATTEMPTS = 3  # a set is removed only after its successor is in place: one more round finds that one


def _read_at(dir_fd: int, name: str) -> bytes:
    with open(name, "rb", opener=lambda path, flags: os.open(path, flags, dir_fd=dir_fd)) as f:
        return f.read()


def remove(directory: str) -> None:
    """Remove a credential, whether written by `save` or by `publish` (the link and the set it names)."""
    import shutil

    # The sets first, then the link: a dangling link reads as no credential, and a cut here leaves no
    # key at rest (autolock removes the at-rest credential so that none is left in the data dir).
    _sweep(directory, keep="")
    if os.path.islink(directory):
        os.unlink(directory)
    else:
        shutil.rmtree(directory, ignore_errors=True)


def _sweep(directory: str, keep: str) -> None:
    """Remove the sets beside `directory` other than `keep`: the one a swap replaced, and any left by a
    publish cut off between its write and its swap."""
    import shutil

    parent, name = os.path.split(os.path.abspath(directory))
    try:
        entries = os.listdir(parent)
    except FileNotFoundError:
        return
    for entry in entries:
        path = os.path.join(parent, entry)
        if not entry.startswith(f".{name}.") or path == keep:
            continue
        if os.path.islink(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)


def subject_field(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def new_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key, pem


def new_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def ca_digest(ca_pem: bytes) -> str:
    """The CA fingerprint a token carries: sha256 of the DER certificate, base32, lower case."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    return base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("=").lower()


def split_pems(pem: bytes) -> list[bytes]:
    """Each certificate of a PEM bundle (a trust bundle, or a certificate and its intermediates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return [c.public_bytes(serialization.Encoding.PEM) for c in x509.load_pem_x509_certificates(pem)] if pem else []


def issuer_digest(identity: Identity) -> str:
    """The digest of the root in the identity's trust bundle that signed its certificate ("" if none did):
    what a node reports, so the leader knows who still holds a certificate of an old root."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    leaf = identity.cert
    for root in x509.load_pem_x509_certificates(identity.ca_pem):
        try:
            leaf.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ca_digest(root.public_bytes(serialization.Encoding.PEM))
    return ""


def trust_fingerprint(ca_pem: bytes) -> str:
    """The roots a trust bundle holds, as one comparable string (their digests, sorted)."""
    return ",".join(sorted(ca_digest(p) for p in split_pems(ca_pem)))


def make_token(ca_pem: bytes, secret: str) -> str:
    return f"{TOKEN_PREFIX}{ca_digest(ca_pem)}-{secret}"


def parse_token(token: str) -> tuple[str, str]:
    """(CA digest, secret); InvalidArgument for anything that is not a token."""
    if not token.startswith(TOKEN_PREFIX):
        raise InvalidArgument("invalid join token: it must start with SWMTKN-1- (see `svc cluster join-token`)")
    rest = token[len(TOKEN_PREFIX) :]
    digest, sep, secret = rest.rpartition("-")
    if not sep or len(digest) != 52 or len(secret) < 16:
        raise InvalidArgument("invalid join token: malformed (see `svc cluster join-token`)")
    return digest, secret


def fetch_ca(addr: str, expected_digest: str, timeout: float = defaults.CA_FETCH_TIMEOUT_SECONDS) -> bytes:
    """Get the cluster CA from a manager's TLS handshake and pin it to the token's digest.

    The manager sends its certificate chain (leaf and CA). Nothing is trusted yet: the CA is
    accepted only if its digest is the one in the join token, exactly as Swarm does. A token printed
    just after a CA rotation started pins the new root, which a manager trusts at once but signs its
    own certificate with a moment later (its upkeep round): until then its leaf would not verify
    against the pin, so this asks again, until `timeout`.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        chain = _presented_chain(addr, timeout)
        pinned = next((pem for pem in map(_pem, chain) if ca_digest(pem) == expected_digest), None)
        if pinned is None:
            raise Unauthenticated(
                f"the manager at {addr} does not present the CA named in the join token (another cluster, a token "
                "from before a CA rotation, or one this manager has not learned of yet: get a new one with "
                "`svc cluster join-token`; or a man in the middle)"
            )
        if _chains_to(chain, pinned):
            return pinned
        if time.monotonic() >= deadline:
            raise Unavailable(
                f"the manager at {addr} trusts the CA root in the join token but does not serve a certificate "
                "from it yet (a CA rotation is starting): try again"
            )
        time.sleep(defaults.CA_FETCH_RETRY_SECONDS)


def _presented_chain(addr: str, timeout: float) -> list[bytes]:
    host, _, port = addr.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=defaults.MANAGER_TLS_NAME) as tls,
        ):
            chain = _unverified_chain(tls)
    except (OSError, ValueError) as exc:
        raise Unavailable(f"cannot reach the manager at {addr}: {exc}") from None
    if not chain:
        raise Unavailable(f"the manager at {addr} sent no certificate")
    return chain


def _pem(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


def _chains_to(chain: list[bytes], root_pem: bytes) -> bool:
    """Whether the leaf (chain[0]) verifies up to `root_pem` through the intermediates sent with it
    (the cross-signed root, during a rotation)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    def issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    certs = [x509.load_der_x509_certificate(der) for der in chain]
    root = x509.load_pem_x509_certificate(root_pem)
    todo, seen = [0], {0}
    while todo:
        cert = certs[todo.pop()]
        if issued(cert, root):
            return True
        above = [i for i in range(1, len(certs)) if i not in seen and issued(cert, certs[i])]
        seen.update(above)
        todo += above
    return False


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        getter = tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]  # 3.10-3.12
    certs = getter() or []
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in certs]  # type: ignore[attr-defined]


# ----- gRPC credentials -----


def channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.ssl_target_name_override", defaults.MANAGER_TLS_NAME),
        ("grpc.keepalive_time_ms", int(defaults.GRPC_KEEPALIVE_SECONDS * 1000)),
        ("grpc.keepalive_timeout_ms", int(defaults.GRPC_KEEPALIVE_TIMEOUT_SECONDS * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", defaults.GRPC_MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", int(defaults.GRPC_RECONNECT_MIN_SECONDS * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(defaults.GRPC_RECONNECT_MAX_SECONDS * 1000)),
    ]


def client_credentials(ca_pem: bytes, identity: Identity | None = None) -> Any:
    import grpc

    if identity is None:
        return grpc.ssl_channel_credentials(root_certificates=ca_pem)
    return grpc.ssl_channel_credentials(
        root_certificates=identity.ca_pem, private_key=identity.key_pem, certificate_chain=identity.cert_pem
    )


def secure_channel(addr: str, identity: Identity | None, ca_pem: bytes | None = None, aio: bool = True) -> Any:
    import grpc

    creds = client_credentials(ca_pem or (identity.ca_pem if identity else b""), identity)
    if aio:
        return grpc.aio.secure_channel(addr, creds, options=channel_options())
    return grpc.secure_channel(addr, creds, options=channel_options())


# ----- plain TLS (the nodes' image peers) -----


def ssl_context(identity: Identity, server: bool) -> ssl.SSLContext:
    """Mutual TLS with the cluster's certificates: this identity's certificate, the trust bundle's roots.

    The other side must present a certificate from the cluster's CA (CERT_REQUIRED, both ways). Names are
    not checked (a node's certificate names its node id, not an address): the roots decide.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not server:
        ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=identity.ca_pem.decode())
    # The ssl module loads a key only from a file: a nameless one in memory (memfd), so nothing is left
    # even if the process is killed here; where there is none, a private file, gone as soon as it is read.
    # (Not tempfile: the CLI calls this for every command, and tempfile brings shutil and random.)
    pem = identity.cert_pem + b"\n" + identity.key_pem
    try:
        fd = os.memfd_create("svc-tls", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        fd = -1
    if fd >= 0:
        try:
            os.write(fd, pem)
            ctx.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return ctx
    where = "/dev/shm" if os.access("/dev/shm", os.W_OK) else os.environ.get("TMPDIR", "/tmp")
    path = os.path.join(where, f"svc-tls-{os.getpid()}-{os.urandom(8).hex()}.pem")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx


def peer_role(cert: dict[str, Any] | None) -> str:
    """The role (OU) in a verified peer certificate as `SSLSocket.getpeercert()` gives it; "" if none."""
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "organizationalUnitName":
                return str(value)
    return ""
