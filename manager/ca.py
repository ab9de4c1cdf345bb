"""The cluster's certificate authority: a root created by `svcd manager --init`, shared by managers
through the store, issuing certificates that name a node's id (CN), role (OU) and cluster (O).

Only manager certificates carry the `svc-manager` name that clients check: a stolen worker
key can talk to the dispatcher as that one worker, but can never pose as a manager.
"""

from __future__ import annotations

import datetime
import hmac
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from svc import defaults, tls
from svc.errors import InvalidArgument, PermissionDenied

BACKDATE = datetime.timedelta(seconds=defaults.CERT_BACKDATE_SECONDS)


def new_secret() -> str:
    return secrets.token_hex(16)


def create_root(cluster_id: str) -> tuple[bytes, bytes]:
    """A new root CA: (certificate PEM, key PEM)."""
    key, key_pem = tls.new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "svc-root-ca"),
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
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class CertificateAuthority:
    def __init__(self, ca_pem: bytes, ca_key_pem: bytes) -> None:
        self.ca_pem = ca_pem
        self.cert = x509.load_pem_x509_certificate(ca_pem)
        key = serialization.load_pem_private_key(ca_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidArgument("the CA key is not an EC key")
        self.key = key
        self.cluster_id = tls.subject_field(self.cert, NameOID.ORGANIZATION_NAME)

    def issue(self, csr_pem: bytes, node_id: str, role: str, lifetime: float) -> bytes:
        """Sign the CSR's public key for `node_id` in `role`; the CSR's own subject is ignored."""
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
        if role == "manager":
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(defaults.MANAGER_TLS_NAME)]), critical=False
            )
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def identity(self, node_id: str, role: str, lifetime: float) -> tls.Identity:
        """A fresh key and certificate (for this manager itself, or an admin client bundle)."""
        key, key_pem = tls.new_key()
        cert = self.issue(tls.new_csr(key), node_id, role, lifetime)
        return tls.Identity(ca_pem=self.ca_pem, cert_pem=cert, key_pem=key_pem)

    def token(self, secret: str) -> str:
        return tls.make_token(self.ca_pem, secret)

    def check_token(self, token: str, worker_secret: str, manager_secret: str) -> str:
        """The role a token grants; PermissionDenied for a wrong, rotated or foreign token."""
        digest, secret = tls.parse_token(token)
        if not hmac.compare_digest(digest, tls.ca_digest(self.ca_pem)):
            raise PermissionDenied("join token is for another cluster (its CA digest does not match)")
        if hmac.compare_digest(secret, manager_secret):
            return "manager"
        if hmac.compare_digest(secret, worker_secret):
            return "worker"
        raise PermissionDenied("invalid join token (wrong or rotated); get a new one with `svc cluster join-token`")
