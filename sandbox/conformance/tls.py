"""The conformance profile's local TLS certificate: a self-signed certificate for `localhost` and `127.0.0.1`
(ECDSA P-256), made with `cryptography` under `<data dir>/tls/` on the first start and reused while it has
more than `RENEW_BEFORE` left. Whoever calls Consent over HTTPS trusts exactly this file (it is its own
issuer): `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` or `curl --cacert`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
DNS_NAMES = ("localhost",)
IP_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class LocalCertificate:
    cert_file: Path
    key_file: Path


def certificate_files(directory: Path) -> LocalCertificate:
    """Where the certificate and its key are kept under `directory`."""
    return LocalCertificate(directory / "localhost.crt", directory / "localhost.key")


def local_certificate(directory: Path) -> LocalCertificate:
    """The certificate and key under `directory`, made (or renewed) when missing, unreadable or expiring."""
    files = certificate_files(directory)
    if not _still_good(files):
        _write(files, *_generate())
    return files


def _still_good(files: LocalCertificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    same_key = cert.public_key().public_numbers() == key.public_key().public_numbers()
    return same_key and cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE


def _generate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GovStack sandbox conformance profile (local only)"),
        ]
    )
    now = datetime.now(UTC)
    alt_names = [x509.DNSName(n) for n in DNS_NAMES] + [x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES]
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    encoding, unencrypted = serialization.Encoding.PEM, serialization.NoEncryption()
    key_pem = key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, unencrypted)
    return cert.public_bytes(encoding), key_pem


def _write(files: LocalCertificate, cert_pem: bytes, key_pem: bytes) -> None:
    files.key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    files.cert_file.write_bytes(cert_pem)
