"""The individual's proof: a JWT the Identity BB signed for that person (an ID token, or the signed
userinfo), checked against Identity's published keys.

Checked: the signature (RS256/PS256/ES256, a key of `<identity url>/.well-known/jwks.json`, fetched once,
cached, fetched again once when a token names an unknown `kid`), `iss` = Identity's issuer, `exp` if present,
`iat` present, not in the future and not older than `individual_proof_max_age_seconds`, `sub` and one `aud`
(the OIDC client the token was issued to). Who that `sub` is, is Identity's to say (`identity.py`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "PS256", "ES256"]
CLOCK_SKEW_SECONDS = 30
MIN_REFETCH_SECONDS = 5.0


class ProofRefused(Exception):
    """The proof is not acceptable; the message says why (safe to show the caller)."""


class IdentityUnreachable(Exception):
    """Identity's keys or answer could not be had: the caller may retry."""


@dataclass(frozen=True)
class Proof:
    """What a verified proof says: who (`sub` as the client `aud` knows them), by whom, when."""

    issuer: str
    audience: str
    subject: str
    issued_at: int
    sha256: str

    def evidence(self) -> dict[str, Any]:
        """What is kept with a signature: the token's hash and claims, never the token (it carries claims)."""
        return {
            "sha256": self.sha256,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": self.subject,
            "iat": self.issued_at,
        }


class IdentityKeys:
    """Identity's public signing keys, cached; fetched again (at most every few seconds) for an unknown kid."""

    def __init__(self, identity_url: str, keyset: KeySet | None = None):
        self.url = identity_url.rstrip("/") + "/.well-known/jwks.json"
        self._keyset = keyset
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def get(self, refresh: bool = False) -> KeySet:
        with self._lock:
            due = time.monotonic() - self._fetched_at > MIN_REFETCH_SECONDS
            if self._keyset is None or (refresh and due):
                self._keyset = self._fetch()
                self._fetched_at = time.monotonic()
            return self._keyset

    def _fetch(self) -> KeySet:
        try:
            response = httpx.get(self.url, timeout=5)
            response.raise_for_status()
            return KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise IdentityUnreachable(f"Identity's keys could not be fetched ({type(exc).__name__})") from exc


class ProofVerifier:
    def __init__(self, keys: IdentityKeys, issuer: str, max_age_seconds: int):
        self.keys = keys
        self.issuer = issuer.rstrip("/")
        self.max_age_seconds = max_age_seconds

    def verify(self, token: str) -> Proof:
        claims = self._decode(token.strip())
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise ProofRefused(f"the proof was not issued by the Identity BB ({self.issuer})")
        exp, iat = claims.get("exp"), claims.get("iat")
        if exp is not None and (not _number(exp) or exp + CLOCK_SKEW_SECONDS <= now):
            raise ProofRefused("the proof has expired")
        if not _number(iat) or iat > now + CLOCK_SKEW_SECONDS:
            raise ProofRefused("the proof has no valid iat")
        if now - iat > self.max_age_seconds:
            raise ProofRefused(f"the proof is older than {self.max_age_seconds} s: log the individual in again")
        subject, audience = claims.get("sub"), _one_audience(claims.get("aud"))
        if not isinstance(subject, str) or not subject or audience is None:
            raise ProofRefused("the proof must name its subject (sub) and one audience (aud)")
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        return Proof(self.issuer, audience, subject, int(iat), digest)

    def _decode(self, token: str) -> dict[str, Any]:
        if token.count(".") != 2:
            raise ProofRefused("the proof must be a signed JWT (compact JWS); decrypt an encrypted userinfo first")
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as exc:
            raise ProofRefused("the proof is not a compact JWS") from exc
        if header.get("alg") not in ALGORITHMS:
            raise ProofRefused(f"the proof's algorithm must be one of {ALGORITHMS}")
        try:
            return self._decode_with(token, self.keys.get())
        except InvalidKeyIdError:
            pass  # Identity may have rotated its key: fetch its keys again, once
        try:
            return self._decode_with(token, self.keys.get(refresh=True))
        except InvalidKeyIdError as exc:
            raise ProofRefused("the proof is signed with a key the Identity BB does not publish") from exc

    @staticmethod
    def _decode_with(token: str, keys: KeySet) -> dict[str, Any]:
        try:
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except InvalidKeyIdError:
            raise
        except (JoseError, ValueError) as exc:
            raise ProofRefused("the proof's signature is not the Identity BB's") from exc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_audience(aud: Any) -> str | None:
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    return aud if isinstance(aud, str) and aud else None
