"""The IM's signed assertion toward providers: a one-use EdDSA JWT bound to one exchange.

The IM signs one per forwarded request (header `Information-Mediator-Assertion`). It names the
authenticated client (`sub`), the service called (`aud`), the HTTP method (`htm`), the path and query as the
provider receives them (`htu`), the SHA-256 of the request body (`bh`), the IM's message id (`mid`), a
unique `jti` and a short lifetime. A provider verifies it against the IM's published key
(`GET {im_url}/.well-known/jwks.json`), checks every binding against the request it received, and refuses a
`jti` it has seen before: an assertion collected from one exchange is worth nothing for another.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

ASSERTION_HEADER = "Information-Mediator-Assertion"
ASSERTION_TTL_SECONDS = 30
CLOCK_SKEW_SECONDS = 5
ISSUER = "information-mediator"
KEY_REFRESH_INTERVAL_SECONDS = 5
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Exchange:
    """What an assertion binds: who calls which service, and the request exactly as the provider gets it."""

    client: str
    service: str
    method: str
    path: str  # path and query string, percent-encoded as sent
    body_sha256: str = EMPTY_BODY_SHA256
    message_id: str = ""


# The assertion is a compact JWS (RFC 7515) that joserfc reads and writes too; signed and checked here with
# `cryptography` directly, as the IM makes one per exchange and every provider checks each: joserfc's generic
# path cost three times the Ed25519 operation itself.
ALGORITHM = "Ed25519"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@functools.lru_cache(maxsize=16)
def _header(kid: str | None) -> bytes:
    return _b64(_json({"typ": "JWT", "alg": ALGORITHM, "kid": kid}))


class _UniqueIds:
    """`jti`s unique to this process: a random prefix and a counter, with the shape of `uuid4().hex` (32 hex
    digits). uuid4 asks the kernel for randomness on every call, a system call per exchange that uniqueness
    does not need: a `jti` is covered by the signature and only has to differ from every other one."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)  # a forked worker must not repeat its parent's ids

    def renew(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_jtis = _UniqueIds()


def sign_assertion(key: OKPKey, exchange: Exchange) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": exchange.client,
        "aud": exchange.service,
        "iat": now,
        "exp": now + ASSERTION_TTL_SECONDS,
        "jti": _jtis.next(),
        "htm": exchange.method.upper(),
        "htu": exchange.path,
        "bh": exchange.body_sha256,
        "mid": exchange.message_id,
    }
    signing_input = _header(key.kid) + b"." + _b64(_json(claims))
    return (signing_input + b"." + _b64(key.private_key.sign(signing_input))).decode()


@dataclass(frozen=True)
class VerifiedCall:
    client: str
    service: str
    message_id: str = ""


class InvalidAssertion(Exception):
    """The assertion is missing, forged, expired, replayed or bound to another exchange."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


class ReplayCache:
    """The `jti`s seen while their assertions could still be valid, to refuse a second use."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - CLOCK_SKEW_SECONDS:
                self._seen.popitem(last=False)
            if jti in self._seen:
                return False
            self._seen[jti] = expires_at
            return True


_REQUIRED = jwt.JWTClaimsRegistry(
    leeway=CLOCK_SKEW_SECONDS,
    iss={"essential": True, "value": ISSUER},
    sub={"essential": True},
    aud={"essential": True},
    exp={"essential": True},
    iat={"essential": True},
    jti={"essential": True},
    htm={"essential": True},
    htu={"essential": True},
    bh={"essential": True},
)


class AssertionVerifier:
    """Verifies assertions with the IM's public keys, fetched once and refreshed on an unknown `kid`."""

    def __init__(self, im_url: str, keyset: KeySet | None = None):
        self.im_url = im_url.rstrip("/")
        self._keyset = keyset
        self._public: dict[str | None, Ed25519PublicKey] = _public_keys(keyset) if keyset else {}
        self._lock = threading.Lock()
        self._fetched_at = 0.0
        self.replays = ReplayCache()

    @property
    def has_keys(self) -> bool:
        return self._keyset is not None

    def _fetch(self) -> KeySet:
        # Certificates matter only over TLS: loading the CA bundle for a plain-HTTP IM took 0.4 s on a busy
        # machine, inside the first mediated call's time.
        tls = self.im_url.startswith("https:")
        response = httpx.get(f"{self.im_url}/.well-known/jwks.json", timeout=5, verify=tls)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def _keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > KEY_REFRESH_INTERVAL_SECONDS
            if self._keyset is None or (refresh and stale):
                self._keyset = self._fetch()
                self._public = _public_keys(self._keyset)
                self._fetched_at = time.monotonic()
            return self._keyset

    def _decode(self, token: str) -> dict:
        """The claims of `token` if one of the IM's keys signed it; ValueError otherwise."""
        try:
            header, payload, signature = token.split(".")
            head = json.loads(_unb64(header))
            if not isinstance(head, dict) or head.get("alg") != ALGORITHM:
                raise ValueError("not an Ed25519 JWS")
            raw = _unb64(signature)
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"malformed assertion ({exc})") from exc
        kid = head.get("kid")
        if not isinstance(kid, str | None):
            raise ValueError("malformed kid")
        if self._keyset is None or kid not in self._public:
            self._keys(refresh=True)  # the IM may have rotated its key: refetch (at most every few seconds)
        key = self._public.get(kid)
        if key is None:
            raise ValueError("signed with a key the IM does not publish")
        try:
            key.verify(raw, f"{header}.{payload}".encode())
            claims = json.loads(_unb64(payload))
        except (InvalidSignature, ValueError, binascii.Error) as exc:
            raise ValueError("bad signature") from exc
        if not isinstance(claims, dict):
            raise ValueError("claims are not an object")
        return claims

    def verify(self, token: str | None, expected: Exchange) -> VerifiedCall:
        """The verified call if `token` is a fresh, unused assertion for exactly this exchange.

        `expected.client` is not checked (the assertion tells who the client is); an `expected.service`
        without `/` matches the service code of any application (a provider that does not know its own id).
        """
        if not token:
            raise InvalidAssertion("missing IM assertion")
        try:
            claims = self._decode(token)
            _REQUIRED.validate(claims)
        except (JoseError, ValueError, httpx.HTTPError) as exc:
            raise InvalidAssertion(f"invalid IM assertion: {exc}") from exc
        if claims["iat"] > time.time() + CLOCK_SKEW_SECONDS:
            raise InvalidAssertion("IM assertion issued in the future")
        service = str(claims["aud"])
        if service != expected.service and service.rsplit("/", 1)[-1] != expected.service:
            raise InvalidAssertion("IM assertion is for another service", 403)
        for claim, value, what in (
            ("htm", expected.method.upper(), "method"),
            ("htu", expected.path, "path"),
            ("bh", expected.body_sha256, "body"),
        ):
            if claims[claim] != value:
                raise InvalidAssertion(f"IM assertion is bound to another {what}")
        if not self.replays.first_use(str(claims["jti"]), float(claims["exp"])):
            raise InvalidAssertion("IM assertion was already used")
        return VerifiedCall(client=str(claims["sub"]), service=service, message_id=str(claims.get("mid", "")))


def _public_keys(keyset: KeySet) -> dict[str | None, Ed25519PublicKey]:
    """The set's Ed25519 public keys by `kid`; a token without `kid` may use a set's only key."""
    keys = {
        k.kid: k.public_key
        for k in keyset.keys
        if isinstance(k, OKPKey) and k.curve_name == ALGORITHM and isinstance(k.public_key, Ed25519PublicKey)
    }
    if len(keys) == 1:
        keys[None] = next(iter(keys.values()))
    return keys
