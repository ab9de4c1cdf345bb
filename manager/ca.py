"""The cluster's certificate authority: a root created by `svcd manager --init`, shared by managers
through the store, issuing certificates that name a node's id (CN), role (OU) and cluster (O).

Only manager certificates carry the `svc-manager` name that clients check: a stolen worker
key can talk to the dispatcher as that one worker, but can never pose as a manager.

During a root rotation (`svc cluster ca --rotate`) the authority signs with the *new* root and
hands out each certificate with the new root cross-signed by the old one as its intermediate,
so a peer that still trusts only the old root accepts it; the trust bundle holds both roots
until the leader finishes the rotation (manager/carotation.py).
"""

from __future__ import annotations

import datetime
import hmac
import ipaddress
import secrets
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from svc import defaults, tls
from svc.errors import InvalidArgument, PermissionDenied

BACKDATE = datetime.timedelta(seconds=defaults.CERT_BACKDATE_SECONDS)


def new_secret() -> str:
    return secrets.token_hex(16)


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def create_root(cluster_id: str, rotated: bool = False) -> tuple[bytes, bytes]:
    """A new root CA: (certificate PEM, key PEM).

    Path length 1: one intermediate may stand below it, the cross-signed next root of a rotation
    (roots made before rotation existed say 0; see docs/security.md). A rotated root gets a name
    of its own, so chain building never mistakes the old root for the new one's issuer.
    """
    key, key_pem = tls.new_key()
    common = "svc-root-ca" + (f"-{secrets.token_hex(4)}" if rotated else "")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(seconds=defaults.CA_LIFETIME_SECONDS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def cross_sign(new_root_pem: bytes, old_root_pem: bytes, old_key_pem: bytes) -> bytes:
    """The new root's name and key, issued by the old root: the intermediate that lets a peer trusting
    only the old root accept a certificate from the new one. Valid no longer than the old root."""
    new = x509.load_pem_x509_certificate(new_root_pem)
    old = x509.load_pem_x509_certificate(old_root_pem)
    old_key = _ec_key(old_key_pem)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(new.subject)
        .issuer_name(old.subject)
        .public_key(new.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(new.not_valid_after_utc, old.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(new.public_key()), critical=False)  # type: ignore[arg-type]
    )
    return builder.sign(old_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _ec_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidArgument("the CA key is not an EC key")
    return key


class CertificateAuthority:
    """Signs with the current root, or with the next one while a rotation runs.

    `ca_pem` is the trust bundle (both roots during a rotation), `root_pem` the root that signs now,
    `chain_pem` what an issued certificate is handed out with (the cross-signed next root, or nothing).
    """

    def __init__(
        self, ca_pem: bytes, ca_key_pem: bytes, next_pem: bytes = b"", next_key_pem: bytes = b"", cross_pem: bytes = b""
    ) -> None:
        rotating = bool(next_pem and next_key_pem and cross_pem)
        self.root_pem = next_pem if rotating else ca_pem
        self.old_root_pem = ca_pem if rotating else b""
        self.chain_pem = cross_pem if rotating else b""
        self.ca_pem = _joined(ca_pem, next_pem) if rotating else ca_pem
        self.cert = x509.load_pem_x509_certificate(self.root_pem)
        self.key = _ec_key(next_key_pem if rotating else ca_key_pem)
        self.cluster_id = tls.subject_field(self.cert, NameOID.ORGANIZATION_NAME)
        self.root_digest = tls.ca_digest(self.root_pem)
        self.trust_digests = frozenset(tls.ca_digest(p) for p in tls.split_pems(self.ca_pem))

    @property
    def rotating(self) -> bool:
        return bool(self.old_root_pem)

    def issue(self, csr_pem: bytes, node_id: str, role: str, lifetime: float, sans: tuple[str, ...] = ()) -> bytes:
        """Sign the CSR's public key for `node_id` in `role`; the CSR's own subject is ignored. `sans`:
        more names (IP addresses or DNS names) a manager's certificate serves under (the Docker API over TCP)."""
        if role not in tls.ROLES:
            raise InvalidArgument(f"unknown role {role!r}")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise InvalidArgument("malformed certificate request") from None
        if not csr.is_signature_valid:
            raise InvalidArgument("certificate request signature is invalid")
        now = datetime.datetime.now(datetime.UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, node_id),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.cluster_id),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(seconds=lifetime))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if role != "admin":  # nodes serve their images to peers (plain TLS); the SAN below stays a manager's
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if role == "manager":
            names: list[x509.GeneralName] = [x509.DNSName(defaults.MANAGER_TLS_NAME)]
            for san in sans:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(san)))
                except ValueError:
                    names.append(x509.DNSName(san))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        try:
            ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
        except x509.ExtensionNotFound:
            pass  # a root from before rotation existed
        leaf = builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        return leaf + self.chain_pem

    def identity(self, node_id: str, role: str, lifetime: float, sans: tuple[str, ...] = ()) -> tls.Identity:
        """A fresh key and certificate (for this manager itself, or an admin client bundle)."""
        key, key_pem = tls.new_key()
        cert = self.issue(tls.new_csr(key), node_id, role, lifetime, sans)
        return tls.Identity(ca_pem=self.ca_pem, cert_pem=cert, key_pem=key_pem)

    def token(self, secret: str) -> str:
        """A join token pins the root that signs now (the new one as soon as a rotation starts)."""
        return tls.make_token(self.root_pem, secret)

    def check_token(self, token: str, worker_secret: str, manager_secret: str) -> str:
        """The role a token grants; PermissionDenied for a wrong, rotated or foreign token. A token
        pinning either root of a running rotation is good; after it, only the new root's."""
        digest, secret = tls.parse_token(token)
        if not any(hmac.compare_digest(digest, d) for d in sorted(self.trust_digests)):
            raise PermissionDenied(
                "join token is for another cluster, or for a CA root this cluster rotated away from "
                "(its CA digest does not match): get a new one with `svc cluster join-token`"
            )
        if hmac.compare_digest(secret, manager_secret):
            return "manager"
        if hmac.compare_digest(secret, worker_secret):
            return "worker"
        raise PermissionDenied("invalid join token (wrong or rotated); get a new one with `svc cluster join-token`")


def _joined(*pems: bytes) -> bytes:
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pems if p)


def from_cluster(cluster: Any) -> CertificateAuthority:
    """The authority a cluster record describes (its rotation, if one runs)."""
    return CertificateAuthority(
        cluster.ca_cert_pem, cluster.ca_key_pem, cluster.ca_next_cert_pem, cluster.ca_next_key_pem, cluster.ca_cross_pem
    )
