"""Login transactions: start, authenticate (OTP, PIN, wallet), consent, and the authorization code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.clients.models import OidcClient
from services.identity.errors import IdentityError
from services.identity.identities import factors as factors_
from services.identity.identities import lockout
from services.identity.identities.models import Identity
from services.identity.identities.service import find_by_individual_id
from services.identity.notifications.service import notify
from services.identity.oidc.claims import ACR_FACTORS
from services.identity.oidc.models import AuthTransaction
from services.identity.security import Secrets, check_pin
from services.identity.settings import IdentitySettings

log = logging.getLogger(__name__)
# The provider's own resident pages (credentials/portal.py) log residents in through the same login pages, as a
# client that is not registered: its logins end at /resident instead of a redirect with a code.
PORTAL_CLIENT_ID = "identity-resident-portal"


class AuthFailed(IdentityError):
    """Authentication refused; `code` is the spec error code, `locked` when attempts are exhausted. The wallet
    APIs answer it in `errors[]` with HTTP 200; the pages and the credential APIs say it their own way."""

    def __init__(self, code: str, message: str, locked: bool = False):
        super().__init__(code, message, 200)
        self.locked = locked


@dataclass
class Challenge:
    factor: str  # OTP, PIN, WLA
    value: str
    format: str = "number"  # the spec's AuthChallenge.format; a PIN challenge in `alpha-numeric` is the password


def knowledge_factor_valid(identity: Identity, challenge: Challenge) -> bool:
    """A PIN challenge: the resident's password when its format is `alpha-numeric`, else the resident's PIN."""
    stored = identity.password_hash if challenge.format == "alpha-numeric" else identity.pin_hash
    return check_pin(challenge.value, stored)


def client_name(session: Session, client_id: str) -> str:
    if client_id == PORTAL_CLIENT_ID:
        return "your identity account"
    client = session.get(OidcClient, client_id)
    return client.client_name if client is not None else client_id


def new_id() -> str:
    return secrets.token_urlsafe(24)


def start_transaction(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    *,
    client: OidcClient,
    redirect_uri: str,
    scopes: list[str],
    essential: list[str],
    voluntary: list[str],
    acrs: list[str],
    state: str | None,
    nonce: str | None,
    code_challenge: str | None,
) -> tuple[AuthTransaction, str]:
    """A new transaction and the XSRF token the browser must echo (only its hash is stored)."""
    xsrf = secrets.token_urlsafe(24)
    transaction = AuthTransaction(
        id=new_id(),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        essential_claims=essential,
        voluntary_claims=voluntary,
        acr_values=acrs,
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
        xsrf_hash=secrets_.keyed_hash("xsrf", xsrf),
        expires_at=utcnow() + timedelta(seconds=settings.transaction_ttl_seconds),
        status="started",
        failed_attempts=0,  # set here, not only at flush: /req/otp counts a failure before the first flush
        accepted_claims=[],
        permitted_scopes=[],
    )
    session.add(transaction)
    return transaction, xsrf


def live_transaction(session: Session, transaction_id: Any, *, for_update: bool = False) -> AuthTransaction | None:
    if not isinstance(transaction_id, str) or not transaction_id:
        return None
    transaction = session.get(AuthTransaction, transaction_id, with_for_update=for_update)
    if transaction is None or transaction.expires_at <= utcnow() or transaction.status == "failed":
        return None
    return transaction


def xsrf_valid(secrets_: Secrets, transaction: AuthTransaction, cookie: str | None, echoed: str | None) -> bool:
    """Double-submit check bound to the transaction: cookie == echoed value == the token issued for it."""
    if not cookie or not echoed or not hmac.compare_digest(cookie, echoed):
        return False
    return hmac.compare_digest(secrets_.keyed_hash("xsrf", cookie), transaction.xsrf_hash)


def allowed_factors(transaction: AuthTransaction) -> list[str]:
    return [ACR_FACTORS[a] for a in transaction.acr_values if a in ACR_FACTORS]


def send_otp(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    transaction: AuthTransaction,
    individual_id: str,
) -> None:
    """Generate an OTP for the resident (stored hashed). In sandbox mode the sandbox OTP is the code.

    Another OTP for the same login and resident is refused until `otp_resend_seconds` have passed."""
    if "OTP" not in allowed_factors(transaction):
        raise AuthFailed("invalid_auth_factor", "OTP is not allowed for this login")
    identity = find_by_individual_id(session, individual_id)
    if identity is None:
        _count_failure(settings, transaction)
        raise AuthFailed("invalid_identifier", "unknown or inactive UIN/VID", transaction.status == "failed")
    try:
        lockout.refuse_if_locked(identity)
    except lockout.IdentityLocked as exc:
        raise AuthFailed("auth_failed", exc.message) from None
    refuse_blocked(identity, ["OTP"])
    if wait := otp_resend_wait(settings, transaction, identity.id):
        raise AuthFailed("send_otp_failed", f"a new code can be sent in {wait} s")
    code = settings.sandbox_otp if settings.sandbox_mode else f"{secrets.randbelow(10**6):06d}"
    transaction.otp_hash = secrets_.keyed_hash("otp", transaction.id, str(identity.id), code)
    transaction.otp_identity_id = identity.id
    transaction.otp_expires_at = utcnow() + timedelta(seconds=settings.otp_ttl_seconds)
    minutes = max(1, settings.otp_ttl_seconds // 60)
    notify(
        session,
        identity,
        "otp",
        f"{settings.provider_name}: your one-time code",
        f"Your code to log in to {client_name(session, transaction.client_id)} is {code}. It expires in {minutes} "
        "minute(s). Never share it with anyone.",
    )
    log.info("otp issued for transaction %s", transaction.id[:8])  # never the code, never the resident


def otp_resend_wait(settings: IdentitySettings, transaction: AuthTransaction, identity_id: int | None = None) -> int:
    """Seconds until another OTP may be sent for this login (to `identity_id`, if given; 0 for another resident)."""
    if transaction.otp_expires_at is None or identity_id not in (None, transaction.otp_identity_id):
        return 0
    sent = transaction.otp_expires_at - timedelta(seconds=settings.otp_ttl_seconds)
    return max(0, math.ceil((sent - utcnow()).total_seconds() + settings.otp_resend_seconds))


def refuse_blocked(identity: Identity, factors: list[str]) -> None:
    """A factor the resident blocked is refused before it is checked (and costs no attempt)."""
    for factor in factors:
        if factors_.is_blocked(identity, factor):
            name = factors_.FACTOR_NAMES.get(factor, factor)
            raise AuthFailed("auth_failed", f"login with the {name} is blocked for this identity")


def _count_failure(settings: IdentitySettings, transaction: AuthTransaction) -> None:
    transaction.failed_attempts += 1
    if transaction.failed_attempts >= settings.otp_max_attempts:
        transaction.status = "failed"
        transaction.otp_hash = None


def _verify_challenge(
    session: Session,
    secrets_: Secrets,
    transaction: AuthTransaction,
    identity: Identity,
    challenge: Challenge,
) -> bool:
    if challenge.factor == "OTP":
        if transaction.otp_hash is None or transaction.otp_identity_id != identity.id:
            return False
        if transaction.otp_expires_at <= utcnow():
            return False
        expected = secrets_.keyed_hash("otp", transaction.id, str(identity.id), challenge.value)
        return hmac.compare_digest(expected, transaction.otp_hash)
    if challenge.factor == "PIN":
        return knowledge_factor_valid(identity, challenge)
    if challenge.factor == "WLA":
        return wallet_assertion_valid(session, identity, challenge.value, transaction)
    return False


def wallet_assertion_valid(session: Session, identity: Identity, token: str, transaction: AuthTransaction) -> bool:
    """A wallet local-authentication JWT signed by a key bound to this resident through /wallet-binding."""
    from services.identity.linked.models import WalletBinding

    now = utcnow()
    bindings = session.scalars(
        select(WalletBinding).where(WalletBinding.identity_id == identity.id, WalletBinding.auth_factor_type == "WLA")
    )
    for binding in bindings:
        if binding.expires_at <= now:
            continue
        try:
            key = (RSAKey if binding.public_key.get("kty") == "RSA" else ECKey).import_key(binding.public_key)
            claims = jwt.decode(token, key, algorithms=["RS256", "ES256"]).claims
        except Exception:  # noqa: BLE001 - not signed by this binding's key
            continue
        fresh = isinstance(claims.get("iat"), int) and abs(now.timestamp() - claims["iat"]) < 300
        if fresh and claims.get("sub") == binding.wallet_user_id:
            return True
    return False


def authenticate(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    transaction: AuthTransaction,
    individual_id: str,
    challenges: list[Challenge],
) -> Identity:
    """Check the challenges; every failure counts toward the attempt limit of the transaction and, for a known
    resident, toward the lockout of the identity (identities/lockout.py). A locked identity is refused whatever
    the challenges."""
    if transaction.status != "started":
        raise AuthFailed("invalid_transaction", "this login is already authenticated or finished")
    factors = allowed_factors(transaction)
    if not challenges or any(c.factor not in factors for c in challenges):
        raise AuthFailed("invalid_no_of_challenges", f"use one of the factors {factors}")
    identity = find_by_individual_id(session, individual_id)
    if identity is not None:
        refuse_blocked(identity, [c.factor for c in challenges])
        try:
            lockout.begin_attempt(session, identity)
        except lockout.IdentityLocked as exc:
            raise AuthFailed("auth_failed", exc.message) from None
    if identity is None or not all(_verify_challenge(session, secrets_, transaction, identity, c) for c in challenges):
        _count_failure(settings, transaction)
        left = max(settings.otp_max_attempts - transaction.failed_attempts, 0)
        message = f"authentication failed; {left} attempt(s) left"
        if identity is not None:
            lockout.failed(session, settings, identity)
            if until := lockout.locked_until(identity):
                message = f"authentication failed; {lockout.IdentityLocked(until).message}"
        raise AuthFailed("auth_failed", message, transaction.status == "failed")
    lockout.succeeded(session, identity)
    used = {c.factor for c in challenges}
    transaction.acr = next(a for a in transaction.acr_values if ACR_FACTORS.get(a) in used)
    transaction.identity_id = identity.id
    transaction.auth_time = utcnow()
    transaction.status = "authenticated"
    transaction.otp_hash = None
    return identity


def give_consent(transaction: AuthTransaction, accepted: list[str], scopes: list[str] | None = None) -> None:
    """Record the claims the resident accepted; essential claims cannot be refused."""
    requested = set(transaction.essential_claims) | set(transaction.voluntary_claims)
    unknown = [c for c in accepted if c not in requested]
    if unknown:
        raise AuthFailed("invalid_accepted_claim", f"not requested: {unknown}")
    if scopes is not None and not set(scopes) <= set(transaction.scopes):
        raise AuthFailed("invalid_permitted_scope", "a permitted scope was not requested")
    missing = [c for c in transaction.essential_claims if c not in accepted]
    if missing:
        raise AuthFailed("invalid_accepted_claim", f"essential claims must be accepted: {missing}")
    transaction.accepted_claims = list(dict.fromkeys(accepted))
    transaction.permitted_scopes = list(scopes if scopes is not None else transaction.scopes)
    transaction.status = "consented"


def issue_code(settings: IdentitySettings, secrets_: Secrets, transaction: AuthTransaction) -> str:
    code = secrets.token_urlsafe(32)
    transaction.code_hash = secrets_.keyed_hash("code", code)
    transaction.code_expires_at = utcnow() + timedelta(seconds=settings.auth_code_ttl_seconds)
    return code


def pkce_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
