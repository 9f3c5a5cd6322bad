"""A local certificate authority for mutual TLS between the IM and the providers (`sandbox up --mtls`), as
X-Road secures the traffic between security servers.

Under `<data dir>/tls/ca/`: the CA (ECDSA P-256, made on the first start, kept while it has more than
`RENEW_BEFORE` left), one server certificate per provider process (for `localhost` and `127.0.0.1`, server
authentication only) and one client certificate for the IM (client authentication only). A provider's TLS
listener asks for a client certificate from this CA, so the IM's is the only one it accepts: a server
certificate carries no client-authentication purpose. Keys are written readable by the owner only.
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

CA_VALIDITY = timedelta(days=3 * 365)
LEAF_VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
ORGANIZATION = "GovStack sandbox (local only)"
HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class KeyPair:
    cert_file: Path
    key_file: Path


class LocalCA:
    def __init__(self, directory: Path):
        self.directory = directory
        self.ca = KeyPair(directory / "ca.crt", directory / "ca.key")

    @property
    def cert_file(self) -> Path:
        return self.ca.cert_file

    def ensure(self) -> LocalCA:
        """The CA, made or renewed when missing, unreadable or expiring (its leaves are made anew then)."""
        if _valid(self.ca) is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = _name(f"{ORGANIZATION} CA")
            cert = (
                _builder(name, name, key.public_key(), CA_VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_key_usage(cert_sign=True), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            _write(self.ca, cert, key)
            for leaf in self.directory.glob("*.leaf.crt"):
                leaf.unlink()
        return self

    def server(self, name: str) -> KeyPair:
        """A provider's certificate, for the sandbox's local addresses."""
        return self._leaf(name, ExtendedKeyUsageOID.SERVER_AUTH)

    def client(self, name: str) -> KeyPair:
        """A client's certificate (the IM's, toward the providers)."""
        return self._leaf(name, ExtendedKeyUsageOID.CLIENT_AUTH)

    def _leaf(self, name: str, purpose: x509.ObjectIdentifier) -> KeyPair:
        files = KeyPair(self.directory / f"{name}.leaf.crt", self.directory / f"{name}.leaf.key")
        issued = _valid(files)
        if issued is not None and issued.issuer == self._ca_cert().subject:
            return files
        ca_cert, ca_key = self._ca_cert(), self._ca_key()
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names = [x509.DNSName(h) for h in HOSTS] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
        cert = (
            _builder(_name(name), ca_cert.subject, key.public_key(), LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(files, cert, key)
        return files

    def _ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca.cert_file.read_bytes())

    def _ca_key(self) -> ec.EllipticCurvePrivateKey:
        return serialization.load_pem_private_key(self.ca.key_file.read_bytes(), password=None)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, public: object, validity: timedelta) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _valid(files: KeyPair) -> x509.Certificate | None:
    """The certificate, if it and its key are readable, belong together and do not expire soon."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    same_key = cert.public_key().public_numbers() == key.public_key().public_numbers()
    return cert if same_key and cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE else None


def _write(files: KeyPair, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    files.key_file.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
