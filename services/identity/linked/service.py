"""Linked authorization (wallet scans the QR code of the login page) and wallet key binding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.clients.models import OidcClient
from services.identity.envelope import EnvelopeError
from services.identity.identities import lockout
from services.identity.identities.models import Identity
from services.identity.identities.service import find_by_individual_id
from services.identity.linked.models import WalletBinding, WalletPartner
from services.identity.oidc import service as oidc
from services.identity.oidc.models import AuthTransaction
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring

FACTOR_NAMES = {"OTP": "OTP", "PIN": "PIN", "WLA": "Wallet"}
_LINK_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_link_code(
    session: Session, settings: IdentitySettings, secrets_: Secrets, transaction: AuthTransaction
) -> tuple[str, Any]:
    if "WLA" not in oidc.allowed_factors(transaction):
        raise EnvelopeError("invalid_transaction", "wallet login is not allowed for this client or acr")
    if transaction.code_hash is not None:
        raise EnvelopeError("invalid_transaction", "this login is complete: its authorization code was handed out")
    if transaction.status != "started" or transaction.linked_at is not None:
        restart_link(transaction)
    code = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(12))
    transaction.link_code = secrets_.keyed_hash("link", code)
    transaction.link_code_expires_at = utcnow() + timedelta(seconds=settings.link_code_ttl_seconds)
    return code, transaction.link_code_expires_at


def restart_link(transaction: AuthTransaction) -> None:
    """A new link code starts the wallet login afresh (the page shows a new QR code): a wallet linked before, its
    authentication and consent are dropped, so the next wallet must link and authenticate again. The failed
    attempts stay counted. Only the page that holds the transaction's XSRF token can ask for it."""
    transaction.link_transaction_id = None
    transaction.linked_at = None
    transaction.status = "started"
    transaction.identity_id = None
    transaction.auth_time = None
    transaction.acr = None
    transaction.otp_hash = None
    transaction.otp_identity_id = None
    transaction.accepted_claims = []
    transaction.permitted_scopes = []


def by_link_code(session: Session, secrets_: Secrets, link_code: Any) -> AuthTransaction | None:
    if not isinstance(link_code, str) or not link_code:
        return None
    return session.scalar(
        select(AuthTransaction).where(
            AuthTransaction.link_code == secrets_.keyed_hash("link", link_code.strip().upper())
        )
    )


def link_transaction(session: Session, secrets_: Secrets, link_code: Any) -> tuple[AuthTransaction, OidcClient]:
    transaction = by_link_code(session, secrets_, link_code)
    if transaction is None or oidc.live_transaction(session, transaction.id) is None:
        raise EnvelopeError("invalid_link_code", "unknown link code")
    if transaction.link_code_expires_at <= utcnow():
        raise EnvelopeError("invalid_link_code", "link code expired")
    if transaction.linked_at is not None:
        raise EnvelopeError("invalid_link_code", "link code already used")
    transaction.link_transaction_id = oidc.new_id()
    transaction.linked_at = utcnow()
    return transaction, session.get(OidcClient, transaction.client_id)


def by_linked_id(session: Session, linked_id: Any) -> AuthTransaction:
    if not isinstance(linked_id, str) or not linked_id:
        raise EnvelopeError("invalid_transaction_id", "linkedTransactionId is required")
    transaction = session.scalar(select(AuthTransaction).where(AuthTransaction.link_transaction_id == linked_id))
    if transaction is None or oidc.live_transaction(session, transaction.id) is None:
        raise EnvelopeError("invalid_transaction_id", "unknown or expired linked transaction")
    return transaction


CHALLENGE_FORMATS = ("alpha-numeric", "jwt", "encoded-json", "number")  # the spec's AuthChallenge.format


def challenges(challenge_list: Any, none_code: str = "invalid_no_of_challenges") -> list[oidc.Challenge]:
    """The spec's AuthChallenge list; an empty one is `none_code` (each endpoint's own error code)."""
    if not isinstance(challenge_list, list) or not challenge_list:
        raise EnvelopeError(none_code, "challengeList must hold at least one challenge")
    out = []
    for item in challenge_list:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("challenge"), str)
            or item.get("authFactorType") not in ("OTP", "PIN", "WLA", "BIO")
            or item.get("format") not in CHALLENGE_FORMATS
        ):
            raise EnvelopeError(
                "invalid_request",
                f"each challenge needs authFactorType, challenge and format (one of {list(CHALLENGE_FORMATS)})",
            )
        out.append(oidc.Challenge(item["authFactorType"], item["challenge"], item["format"]))
    return out


# -- wallet binding -----------------------------------------------------------------------------------


def register_partner(session: Session, secrets_: Secrets, partner_id: str) -> str:
    api_key = secrets.token_urlsafe(32)
    partner = session.get(WalletPartner, partner_id)
    if partner is None:
        session.add(WalletPartner(partner_id=partner_id, api_key_hash=secrets_.keyed_hash("partner", api_key)))
    else:
        partner.api_key_hash = secrets_.keyed_hash("partner", api_key)
    return api_key


def partner_valid(session: Session, secrets_: Secrets, partner_id: str | None, api_key: str | None) -> bool:
    partner = session.get(WalletPartner, partner_id) if partner_id else None
    return (
        partner is not None
        and api_key is not None
        and hmac.compare_digest(partner.api_key_hash, secrets_.keyed_hash("partner", api_key))
    )


def _wallet_key(jwk: Any) -> RSAKey | ECKey | None:
    if not isinstance(jwk, dict) or {"d", "p", "q"} & jwk.keys():
        return None
    try:
        if jwk.get("kty") == "RSA":
            key = RSAKey.import_key(jwk)
            return key if key.public_key.key_size >= 2048 else None
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ECKey.import_key(jwk)
    except Exception:  # noqa: BLE001
        return None
    return None


def bind_wallet(
    session: Session,
    settings: IdentitySettings,
    secrets_: Secrets,
    keyring: Keyring,
    partner_id: str,
    request: dict[str, Any],
) -> dict[str, Any]:
    if request.get("authFactorType") != "WLA":
        raise EnvelopeError("unsupported_challenge_format", "only authFactorType WLA can be bound")
    if request.get("format") != "jwt":
        raise EnvelopeError("unsupported_challenge_format", "format must be jwt")
    key = _wallet_key(request.get("publicKey"))
    if key is None:
        raise EnvelopeError("invalid_public_key", "publicKey must be a public RSA (2048+) or EC P-256 JWK")
    identity = find_by_individual_id(session, request.get("individualId"))
    proof = challenges(request.get("challengeList"), "invalid_auth_challenge")
    if identity is None:
        raise EnvelopeError("invalid_auth_challenge", "authentication failed")
    _authenticate_binding(session, settings, identity, proof)
    psut = secrets_.psut(identity.uin, f"wallet:{partner_id}")
    thumbprint = key.thumbprint()
    wallet_user_id = base64.urlsafe_b64encode(hashlib.sha256(f"{psut}|{thumbprint}".encode()).digest()[:24]).decode()
    duplicate = session.scalar(
        select(WalletBinding).where(
            WalletBinding.partner_psut == psut,
            WalletBinding.key_thumbprint == thumbprint,
            WalletBinding.auth_factor_type == "WLA",
        )
    )
    if duplicate is not None and duplicate.expires_at > utcnow():
        raise EnvelopeError("duplicate_public_key", "this key is already bound for this resident")
    expires = utcnow() + timedelta(days=settings.wallet_binding_days)
    if duplicate is not None:
        session.delete(duplicate)
        session.flush()
    session.add(
        WalletBinding(
            wallet_user_id=wallet_user_id,
            identity_id=identity.id,
            partner_id=partner_id,
            partner_psut=psut,
            key_thumbprint=thumbprint,
            public_key=key.as_dict(private=False),
            auth_factor_type="WLA",
            expires_at=expires,
        )
    )
    return {
        "walletUserId": wallet_user_id,
        "certificate": _binding_certificate(keyring, key, wallet_user_id, expires),
        "expireDateTime": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def _authenticate_binding(
    session: Session, settings: IdentitySettings, identity: Identity, proof: list[oidc.Challenge]
) -> None:
    """The binding's PIN or OTP counts toward the identity's lockout like a login's."""
    try:
        lockout.begin_attempt(session, identity)
    except lockout.IdentityLocked as exc:
        raise EnvelopeError("invalid_auth_challenge", exc.message) from None
    if not all(_binding_challenge_ok(settings, identity, c) for c in proof):
        lockout.failed(session, settings, identity)
        raise EnvelopeError("invalid_auth_challenge", "authentication failed")
    lockout.succeeded(session, identity)


def _binding_challenge_ok(settings: IdentitySettings, identity: Identity, challenge: oidc.Challenge) -> bool:
    if challenge.factor == "PIN":
        return oidc.knowledge_factor_valid(identity, challenge)
    # There is no OTP transaction for a binding; the sandbox accepts its sandbox OTP as the delivered code.
    return challenge.factor == "OTP" and settings.sandbox_mode and challenge.value == settings.sandbox_otp


def _binding_certificate(keyring: Keyring, wallet_key: RSAKey | ECKey, wallet_user_id: str, expires: datetime) -> str:
    signer = keyring.ensure_current()
    issuer = signer.certificate.subject
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wallet_user_id)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(wallet_key.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - timedelta(minutes=5))
        .not_valid_after(expires)
        .sign(signer.key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
