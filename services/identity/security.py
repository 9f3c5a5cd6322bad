"""Secrets and credentials: the admin token, keyed hashes for OTPs and codes, PINs, the PSUT, bearer tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from fastapi import Request
from joserfc.jwk import OctKey

from services.common.keys import load_or_create_secret
from services.identity.settings import IdentitySettings


class Secrets:
    """Server-side secrets, generated on first start under `<data_dir>/secrets/` and never logged."""

    def __init__(self, settings: IdentitySettings):
        folder = settings.data_dir / "secrets"
        self.admin_token = settings.admin_token or load_or_create_secret(folder, "identity-admin-token")
        self._psut_key = load_or_create_secret(folder, "identity-psut-key").encode()
        self._hash_key = load_or_create_secret(folder, "identity-hash-key").encode()
        # Access tokens are JWTs that only this provider reads (clients treat them as opaque, spec 8): an HMAC
        # key signs them, so a token exchange costs one RSA signature (the ID token's) instead of two.
        self.access_token_key = OctKey.import_key(load_or_create_secret(folder, "identity-access-token-key"))

    def psut(self, uin: str, audience: str) -> str:
        """Partner-specific user token: stable per (resident, client), unlinkable across clients."""
        mac = hmac.new(self._psut_key, f"{audience}\x00{uin}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def keyed_hash(self, *parts: str) -> str:
        """HMAC for low-entropy or bearer secrets (OTPs, codes, link codes, API keys)."""
        return hmac.new(self._hash_key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def hash_pin(pin: str) -> str:
    """scrypt hash of a knowledge factor: a PIN or a password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**12, r=8, p=1)
    return f"scrypt$4096${salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str | None) -> bool:
    if not stored:
        return False
    _, n, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=8, p=1)
    return hmac.compare_digest(candidate.hex(), digest)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
