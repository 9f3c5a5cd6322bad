"""SD-JWT VC (IETF SD-JWT, RFC 9901, and SD-JWT VC) issued with the provider's signing keys (joserfc).

Every attribute is a selectively disclosable claim: the signed JWT carries only salted SHA-256 digests in
`_sd`, and the credential carries the disclosures of the attributes the resident chose, nothing else. A
verifier checks the signature against the provider's JWKS (`kid` in the header) and each disclosure against
a digest. The signature is joserfc's; the format (salts, disclosures, digests) is the RFC's, built here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from joserfc import jwt

from services.common.clock import utcnow
from services.identity.signing.keyring import Keyring

TYP = "dc+sd-jwt"  # SD-JWT VC's media type (earlier drafts: vc+sd-jwt)
DIGEST_ALG = "sha-256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def disclosure(name: str, value: Any) -> str:
    """RFC 9901 4.2.1: base64url of the JSON array [salt, claim name, claim value]."""
    salt = _b64(secrets.token_bytes(16))
    return _b64(json.dumps([salt, name, value], ensure_ascii=False).encode())


def digest(encoded_disclosure: str) -> str:
    return _b64(hashlib.sha256(encoded_disclosure.encode("ascii")).digest())


def issue(
    keyring: Keyring, *, issuer: str, vct: str, subject: str, claims: dict[str, Any], days: int
) -> tuple[str, dict]:
    """The SD-JWT (`<issuer-signed JWT>~<disclosure>~...~`) and its signed payload."""
    disclosures = [disclosure(name, value) for name, value in claims.items()]
    now = utcnow()
    payload = {
        "iss": issuer,
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(days=days)).timestamp()),
        "vct": vct,
        "_sd_alg": DIGEST_ALG,
        "_sd": sorted(digest(d) for d in disclosures),  # sorted: the order says nothing about the claims
    }
    key = keyring.current() or keyring.ensure_current()
    signed = jwt.encode({"alg": "RS256", "typ": TYP, "kid": key.kid}, payload, key.key)
    return "~".join([signed, *disclosures]) + "~", payload
