"""The IM's signed assertion toward providers: a short-lived EdDSA JWT naming the authenticated client.

The IM sends one with every forwarded request (header `Information-Mediator-Assertion`); a provider
verifies it against the IM's published key (`GET {im_url}/.well-known/jwks.json`) to know the call crossed
the IM and which client application made it. A bare client header proves nothing. An assertion names a
(client, service) pair and lives 60 s; the IM reuses it for half of that, since signing per request would
cost more than the rest of the mediation.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

ASSERTION_HEADER = "Information-Mediator-Assertion"
ASSERTION_TTL_SECONDS = 60
ISSUER = "information-mediator"
KEY_REFRESH_INTERVAL_SECONDS = 5


def sign_assertion(key: OKPKey, client: str, service: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": client,
        "aud": service,
        "iat": now,
        "exp": now + ASSERTION_TTL_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"])


@dataclass(frozen=True)
class VerifiedCall:
    client: str
    service: str


class InvalidAssertion(Exception):
    """The assertion is missing, forged, expired or for another service."""


class AssertionVerifier:
    """Verifies assertions with the IM's public keys, fetched once and refreshed on an unknown `kid`."""

    def __init__(self, im_url: str, keyset: KeySet | None = None):
        self.im_url = im_url.rstrip("/")
        self._keyset = keyset
        self._lock = threading.Lock()
        self._fetched_at = 0.0

    def _fetch(self) -> KeySet:
        response = httpx.get(f"{self.im_url}/.well-known/jwks.json", timeout=5)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def _keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > KEY_REFRESH_INTERVAL_SECONDS
            if self._keyset is None or (refresh and stale):
                self._keyset = self._fetch()
                self._fetched_at = time.monotonic()
            return self._keyset

    def _decode(self, token: str) -> jwt.Token:
        try:
            return jwt.decode(token, self._keys(), algorithms=["Ed25519"])
        except (JoseError, ValueError):
            # The IM may have rotated its key: refetch (at most every few seconds) and try once more.
            return jwt.decode(token, self._keys(refresh=True), algorithms=["Ed25519"])

    def verify(self, token: str | None, service: str | None = None) -> VerifiedCall:
        if not token:
            raise InvalidAssertion("missing IM assertion")
        try:
            decoded = self._decode(token)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": ISSUER}, sub={"essential": True}, exp={"essential": True}
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, httpx.HTTPError) as exc:
            raise InvalidAssertion(f"invalid IM assertion: {exc}") from exc
        claims = decoded.claims
        if service is not None and claims.get("aud") != service:
            raise InvalidAssertion("IM assertion is for another service")
        return VerifiedCall(client=claims["sub"], service=claims.get("aud", ""))
