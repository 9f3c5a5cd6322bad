"""The provider's RSA signing keys: self-signed certificates, rotation, and the published JWKS.

Keys live under `<keys_dir>/oidc/`: `<kid>.rsa.pem` (0600, written by the kernel's key helper) and
`<kid>.json` (certificate and lifetime). The newest key signs. A retired key stays in the JWKS until the
last token it signed has expired, so relying parties can still verify those tokens.

Replicas must sign with the same key: a deployment makes it before it starts (`sandbox bootstrap
--new-credentials`, `make_mounted_key`) as `signing.rsa.pem` and `signing.json`, fixed file names that a
Kubernetes Secret or a compose file can mount into every replica; the kid inside stays random. A replica
rotates only its own directory, so with replicas the mounted key is replaced by the operator, before its
`sign_until` (README, "Deploying").
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.common.clock import iso, utcnow
from services.common.keys import load_or_create_rsa

MOUNTED_KEY_FILE = "signing"  # the file name (without suffix) of a key made before deployment


@dataclass
class SigningKey:
    kid: str
    key: RSAKey
    certificate: x509.Certificate
    sign_until: datetime
    retired_at: datetime | None
    file: str = ""  # the name of its files in the key directory: the kid, or MOUNTED_KEY_FILE

    def __post_init__(self) -> None:
        self.file = self.file or self.kid

    def published_until(self, token_ttl: timedelta) -> datetime:
        ends = self.certificate.not_valid_after_utc
        if self.retired_at is not None:
            ends = min(ends, self.retired_at + token_ttl)
        return ends

    def public_jwk(self, token_ttl: timedelta) -> dict:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        public = self.key.as_dict(private=False)
        return {
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "kty": "RSA",
            "e": public["e"],
            "n": public["n"],
            "x5c": [base64.b64encode(der).decode()],
            "x5t#S256": base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode(),
            "exp": iso(self.published_until(token_ttl), "milliseconds"),
        }


def self_signed_certificate(key: RSAKey, common_name: str, not_after: datetime) -> x509.Certificate:
    private = key.private_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .sign(private, hashes.SHA256())
    )


class Keyring:
    def __init__(self, keys_dir: Path, signing_days: int, token_ttl_seconds: int, issuer: str):
        self.dir = keys_dir / "oidc"
        self.signing_period = timedelta(days=signing_days)
        self.token_ttl = timedelta(seconds=token_ttl_seconds)
        self.issuer = issuer
        self._keys: dict[str, SigningKey] = {}
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self.dir.mkdir(parents=True, exist_ok=True)
        self.reload()
        if self.current() is None:
            self.rotate()

    # -- loading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        keys = {}
        for meta_path in self.dir.glob("*.json"):
            meta = json.loads(meta_path.read_text())
            kid, file = meta["kid"], meta_path.stem
            keys[kid] = SigningKey(
                kid=kid,
                key=load_or_create_rsa(self.dir, file),
                certificate=x509.load_pem_x509_certificate(meta["certificate"].encode()),
                sign_until=datetime.fromisoformat(meta["sign_until"]),
                retired_at=datetime.fromisoformat(meta["retired_at"]) if meta.get("retired_at") else None,
                file=file,
            )
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def _refresh(self, max_age: float = 5.0) -> None:
        """Other processes (replicas) may have rotated: re-read the directory now and then."""
        if time.monotonic() - self._loaded_at > max_age:
            self.reload()

    # -- rotation --------------------------------------------------------------------------------
    def rotate(self) -> SigningKey:
        """Create a new signing key; the previous ones are retired but stay published."""
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.reload()
            now = utcnow()
            for old in self._keys.values():
                if old.retired_at is None:
                    old.retired_at = now
                    write_meta(self.dir, old)
            signing_key = new_signing_key(self.dir, self.issuer, self.signing_period, self.token_ttl)
            self.reload()
            return signing_key

    def ensure_current(self) -> SigningKey:
        current = self.current()
        if current is None:
            with open(self.dir / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.reload()
                current = self.current()
            if current is None:
                current = self.rotate()
        return current

    def current(self) -> SigningKey | None:
        now = utcnow()
        usable = [k for k in self._keys.values() if k.retired_at is None and k.sign_until > now]
        return max(usable, key=lambda k: k.sign_until, default=None)

    def published(self) -> list[SigningKey]:
        self._refresh()
        now = utcnow()
        return [k for k in self._keys.values() if k.published_until(self.token_ttl) > now]

    def jwks(self) -> dict:
        return {"keys": [k.public_jwk(self.token_ttl) for k in self.published()]}

    # -- signing and verifying -------------------------------------------------------------------
    def sign(self, claims: dict) -> str:
        key = self.current() or self.ensure_current()
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": key.kid}, claims, key.key)

    def key_set(self) -> KeySet:
        return KeySet([k.key for k in self.published()])


def new_signing_key(
    directory: Path, issuer: str, signing_period: timedelta, token_ttl: timedelta, file: str | None = None
) -> SigningKey:
    """A new key that signs from now on for `signing_period`, written to `directory` (named `file`, else its kid)."""
    kid = secrets.token_urlsafe(12)
    key = load_or_create_rsa(directory, file or kid)
    sign_until = utcnow() + signing_period
    cert = self_signed_certificate(key, issuer, sign_until + token_ttl)
    signing_key = SigningKey(kid, key, cert, sign_until, None, file or kid)
    write_meta(directory, signing_key)
    return signing_key


def make_mounted_key(keys_dir: Path, issuer: str, signing_days: int, token_ttl_seconds: int) -> None:
    """The key every replica mounts (`<keys_dir>/oidc/signing.*`), made once; kept if it is there."""
    directory = keys_dir / "oidc"
    if not (directory / f"{MOUNTED_KEY_FILE}.json").exists():
        period, ttl = timedelta(days=signing_days), timedelta(seconds=token_ttl_seconds)
        new_signing_key(directory, issuer, period, ttl, MOUNTED_KEY_FILE)


def write_meta(directory: Path, key: SigningKey) -> None:
    meta = {
        "kid": key.kid,
        "certificate": key.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "sign_until": key.sign_until.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{key.file}.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(directory / f"{key.file}.json")
