"""Token endpoint (private_key_jwt client authentication, code exchange) and UserInfo."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import anyio
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.database import Database
from services.identity.clients.models import OidcClient
from services.identity.errors import IdentityError
from services.identity.identities.models import Identity
from services.identity.oidc.models import AuthTransaction, UsedAssertion
from services.identity.oidc.service import pkce_s256
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1
CLOCK_SKEW = 10  # seconds of tolerated clock difference for iat/exp
ACCESS_TOKEN_ALG = "HS256"  # see Secrets.access_token_key

# The token endpoint's statements, built once: building and cache-keying a statement per request cost more
# than running it. They run on one Core connection, in the exchange's one write transaction.
_T = AuthTransaction
_CLIENT = select(OidcClient.client_id, OidcClient.status, OidcClient.public_key).where(
    OidcClient.client_id == bindparam("client_id")
)
_SPEND_JTI = insert(UsedAssertion)
_FORGET_JTIS = delete(UsedAssertion).where(UsedAssertion.expires_at < bindparam("before"))
_CODE = (
    select(
        _T.id,
        _T.client_id,
        _T.redirect_uri,
        _T.code_used,
        _T.code_expires_at,
        _T.code_challenge,
        _T.acr,
        _T.auth_time,
        _T.nonce,
        _T.scopes,
        _T.permitted_scopes,
        _T.session_id,
        Identity.uin,
    )
    .join(Identity, Identity.id == _T.identity_id)
    .where(_T.code_hash == bindparam("code_hash"))
)
_CONSUME_CODE = (
    update(_T)
    .where(_T.id == bindparam("tid"), _T.code_used.is_(False))
    .values(code_used=True, access_token_id=bindparam("token_id"))
)
_REVOKE_TOKENS = update(_T).where(_T.id == bindparam("tid")).values(tokens_revoked=True)
_BURN_CODE = update(_T).where(_T.id == bindparam("tid")).values(code_used=True)


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenError(IdentityError):
    """A refused exchange: HTTP 400 with the spec's code in `error`."""

    def __init__(self, error: str, description: str):
        super().__init__(error, description, 400, NO_STORE)


@dataclass
class Endpoints:
    issuer: str

    @property
    def token(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def userinfo(self) -> str:
        return f"{self.issuer}/oidc/userinfo"


def _required(form: dict, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError("invalid_request", f"{name} is required")
    return value


def _unverified_issuer(assertion: str) -> str | None:
    try:
        payload = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    except (ValueError, IndexError):
        return None
    return payload.get("iss") if isinstance(payload, dict) else None


class ClientKeys:
    """Imported client signing keys, reused while the registered JWK is unchanged."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, RSAKey]] = {}

    def key(self, client: ClientRow) -> RSAKey:
        fingerprint = json.dumps(client.public_key, sort_keys=True)
        cached = self._keys.get(client.client_id)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, RSAKey.import_key(client.public_key))
            self._keys[client.client_id] = cached
        return cached[1]


CLIENT_KEYS = ClientKeys()


@dataclass(frozen=True)
class OidcProvider:
    """What the token and userinfo endpoints work with, gathered once at start-up (one look-up per request)."""

    settings: IdentitySettings
    secrets: Secrets
    keyring: Keyring
    database: Database
    threads: anyio.CapacityLimiter  # token exchanges running at once (SQLite: one writer)

    @cached_property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.settings.base_url.rstrip("/"))


@dataclass(frozen=True)
class ClientRow:
    """The columns of an OIDC client that the token endpoint needs (a Core select: the hot path has no ORM)."""

    client_id: str
    status: str
    public_key: dict


def authenticate_client(
    connection: Connection,
    settings: IdentitySettings,
    endpoints: Endpoints,
    form: dict,
) -> ClientRow:
    """Verify the private_key_jwt client assertion; refuse unknown clients, wrong aud, expiry and replays.

    A valid assertion's `jti` is recorded, opening the exchange's one write transaction; the caller commits it
    even when the code is then refused, so the assertion stays spent. The token endpoint works on a Core
    connection: an ORM session's bookkeeping cost more than its few statements.
    """
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise TokenError("invalid_assertion_type", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = _required(form, "client_assertion")
    # The spec requires client_id; RFC 7523 makes it optional (authlib omits it): fall back to the
    # assertion's iss, which the signature check below then binds to the client's key.
    client_id = form.get("client_id") or _unverified_issuer(assertion)
    if not isinstance(client_id, str) or not client_id:
        raise TokenError("invalid_request", "client_id is required")
    row = connection.execute(_CLIENT, {"client_id": client_id}).first()
    client = ClientRow(*row) if row else None
    if client is None or client.status != "active":
        raise TokenError("invalid_assertion", "unknown or inactive client")
    try:
        token = jwt.decode(assertion, CLIENT_KEYS.key(client), algorithms=["RS256"])
    except (JoseError, ValueError):
        raise TokenError("invalid_assertion", "client assertion signature or format invalid") from None
    claims = token.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenError("invalid_assertion", "iss and sub must be the client id")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    if not {endpoints.token, endpoints.issuer} & set(audiences):
        raise TokenError("invalid_assertion", "aud must be the token endpoint")
    now = utcnow().timestamp()
    exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
    if not isinstance(exp, (int, float)) or exp + CLOCK_SKEW <= now:
        raise TokenError("invalid_assertion", "client assertion expired or without exp")
    if not isinstance(iat, (int, float)) or iat > now + CLOCK_SKEW or now - iat > settings.assertion_max_age_seconds:
        raise TokenError("invalid_assertion", "client assertion iat missing, in the future or too old")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise TokenError("invalid_assertion", "client assertion jti is required")
    _spend_jti(connection, client_id, jti, exp)
    return client


def _spend_jti(connection: Connection, client_id: str, jti: str, exp: float) -> None:
    """Record the jti: the first write of the transaction, so a duplicate simply rolls back."""
    try:
        if random.random() < 0.002:  # now and then, forget jtis whose assertions have expired anyway
            connection.execute(_FORGET_JTIS, {"before": utcnow() - timedelta(minutes=5)})
        connection.execute(
            _SPEND_JTI, {"client_id": client_id, "jti": jti, "expires_at": datetime.fromtimestamp(exp, UTC)}
        )
    except IntegrityError:
        connection.rollback()
        raise TokenError("invalid_assertion", "client assertion jti already used") from None


@dataclass
class Redeemed:
    transaction_id: str
    uin: str
    acr: str
    auth_time: datetime
    nonce: str | None
    scopes: list
    access_token_id: str
    session_id: str | None = None


def redeem_code(connection: Connection, secrets_: Secrets, client: ClientRow, form: dict) -> Redeemed:
    """Spend a single-use code bound to this client, redirect URI and PKCE challenge (one atomic UPDATE).

    An authenticated client that presents a live code with the wrong client, redirect URI or verifier burns
    it: whoever holds a stolen code gets one try, not one per guess.
    """
    if form.get("grant_type") != "authorization_code":
        raise TokenError("invalid_request", "grant_type must be authorization_code")
    code = _required(form, "code")
    row = connection.execute(_CODE, {"code_hash": secrets_.keyed_hash("code", code)}).first()
    if row is None:
        raise TokenError("invalid_transaction", "unknown authorization code")
    if row.client_id != client.client_id:  # before the replay check: only its own client may revoke its tokens
        connection.execute(_BURN_CODE, {"tid": row.id})
        raise TokenError("invalid_transaction", "unknown authorization code")
    if row.code_used:
        # A replayed code: the tokens issued for it are revoked too (RFC 6749 4.1.2).
        connection.execute(_REVOKE_TOKENS, {"tid": row.id})
        connection.commit()
        raise TokenError("invalid_transaction", "authorization code already used")
    if row.code_expires_at <= utcnow():
        raise TokenError("invalid_transaction", "authorization code expired")
    try:
        _check_code_binding(row, form)
    except TokenError:
        connection.execute(_BURN_CODE, {"tid": row.id})
        raise
    token_id = secrets.token_urlsafe(18)
    consumed = connection.execute(_CONSUME_CODE, {"tid": row.id, "token_id": token_id})
    if consumed.rowcount != 1:
        raise TokenError("invalid_transaction", "authorization code already used")
    return Redeemed(
        row.id,
        row.uin,
        row.acr,
        row.auth_time,
        row.nonce,
        row.permitted_scopes or row.scopes,
        token_id,
        row.session_id,
    )


def _check_code_binding(row: Row, form: dict) -> None:
    redirect_uri = _required(form, "redirect_uri")
    if not hmac.compare_digest(redirect_uri, row.redirect_uri):
        raise TokenError("invalid_redirect_uri", "redirect_uri differs from the one of the authorize request")
    verifier = form.get("code_verifier")
    if not isinstance(verifier, str) or not PKCE_VERIFIER.fullmatch(verifier) or not row.code_challenge:
        raise TokenError("invalid_request", "code_verifier (PKCE, 43 to 128 characters) is required")
    if not hmac.compare_digest(pkce_s256(verifier), row.code_challenge):
        raise TokenError("invalid_request", "PKCE code_verifier does not match the code_challenge")


def _half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def issue_tokens(
    settings: IdentitySettings,
    secrets_: Secrets,
    keyring: Keyring,
    endpoints: Endpoints,
    client: ClientRow,
    redeemed: Redeemed,
) -> dict:
    sub = secrets_.psut(redeemed.uin, client.client_id)
    now = int(utcnow().timestamp())
    access_token = jwt.encode(
        {"alg": ACCESS_TOKEN_ALG, "typ": "at+jwt"},
        {
            "iss": endpoints.issuer,
            "sub": sub,
            "aud": client.client_id,
            "client_id": client.client_id,
            "scope": " ".join(redeemed.scopes),
            "iat": now,
            "exp": now + settings.access_token_ttl_seconds,
            "jti": redeemed.access_token_id,
        },
        secrets_.access_token_key,
        algorithms=[ACCESS_TOKEN_ALG],
    )
    id_claims = {
        "iss": endpoints.issuer,
        "sub": sub,
        "aud": client.client_id,
        "iat": now,
        "exp": now + settings.id_token_ttl_seconds,
        "auth_time": int(redeemed.auth_time.timestamp()),
        "acr": redeemed.acr,
        "at_hash": _half_hash(access_token),
    }
    if redeemed.nonce:
        id_claims["nonce"] = redeemed.nonce
    if redeemed.session_id:  # the provider session (OIDC Back-Channel Logout's `sid`)
        id_claims["sid"] = redeemed.session_id
    return {
        "id_token": keyring.sign(id_claims),
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_seconds,
    }


class UserinfoError(IdentityError):
    """401 with RFC 6750's challenge naming the reason."""

    def __init__(self, description: str):
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
        super().__init__("invalid_token", description, 401, {"WWW-Authenticate": challenge, **NO_STORE})


def userinfo(
    session: Session,
    secrets_: Secrets,
    keyring: Keyring,
    endpoints: Endpoints,
    access_token: str | None,
) -> str:
    """The consented claims as a JWT signed by the provider, nested in a JWE if the client has an enc key."""
    if not access_token:
        raise UserinfoError("access token required")
    try:
        claims = jwt.decode(access_token, secrets_.access_token_key, algorithms=[ACCESS_TOKEN_ALG]).claims
    except (JoseError, ValueError):
        raise UserinfoError("access token not recognized") from None
    now = utcnow().timestamp()
    if claims.get("iss") != endpoints.issuer or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        raise UserinfoError("access token expired or not issued here")
    transaction = session.scalar(select(AuthTransaction).where(AuthTransaction.access_token_id == claims.get("jti")))
    if transaction is None or transaction.tokens_revoked:
        raise UserinfoError("access token revoked")
    client = session.get(OidcClient, transaction.client_id)
    identity = session.get(Identity, transaction.identity_id)
    if client is None or client.status != "active" or identity is None or identity.status != "active":
        raise UserinfoError("access token no longer valid")
    attributes = identity.attributes or {}
    body = {"iss": endpoints.issuer, "aud": client.client_id, "iat": int(now), "sub": claims["sub"]}
    for name in transaction.accepted_claims:
        if name in attributes and name in client.user_claims:
            body[name] = attributes[name]
    signed = keyring.sign(body)
    if not client.enc_public_key:
        return signed
    key = RSAKey.import_key(client.enc_public_key)
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
    if client.enc_public_key.get("kid"):
        header["kid"] = client.enc_public_key["kid"]
    return jwe.encrypt_compact(header, signed.encode(), key, algorithms=["RSA-OAEP-256", "A256GCM"])
