"""`/linked-authorization/*` (wallet login by QR code) and `/wallet-binding`.

The browser-side calls (link-code, link-status, link-auth-code) need the `X-XSRF-TOKEN` header equal to
the `XSRF-TOKEN` cookie set by `/authorize`, and that token must be the one issued for the transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from services.common.clock import iso
from services.common.database import Database
from services.common.errors import error_shape
from services.identity import envelope
from services.identity.dependencies import (
    AdminOnly,
    AttemptSession,
    Db,
    DbSession,
    RateLimits,
    ServerSecrets,
    Settings,
    SigningKeys,
)
from services.identity.envelope import EnvelopeError
from services.identity.linked import service
from services.identity.linked.schemas import (
    LinkAuthCode,
    LinkAuthCodeRequest,
    LinkCode,
    LinkCodeRequest,
    LinkedAuthRequest,
    LinkedConsentRequest,
    LinkedOtpRequest,
    LinkedTransaction,
    LinkStatus,
    LinkStatusRequest,
    LinkTransaction,
    LinkTransactionRequest,
    PartnerRequest,
    WalletBinding,
    WalletBindingRequest,
    WalletPartner,
)
from services.identity.oidc import service as oidc
from services.identity.oidc.models import AuthTransaction
from services.identity.oidc.pages import XSRF_COOKIE
from services.identity.schemas import Envelope, EnvelopeRequest
from services.identity.security import Secrets

router = APIRouter(tags=["Wallet - QR Code"], route_class=error_shape(envelope.render))
admin_router = APIRouter(tags=["Administration"])


def _browser_transaction(request: Request, session: Session, secrets: Secrets, transaction_id: Any) -> AuthTransaction:
    transaction = oidc.live_transaction(session, transaction_id)
    if transaction is None:
        raise EnvelopeError("invalid_transaction_id", "unknown or expired transaction")
    if not oidc.xsrf_valid(secrets, transaction, request.cookies.get(XSRF_COOKIE), request.headers.get("x-xsrf-token")):
        raise EnvelopeError("invalid_request", "missing or wrong X-XSRF-TOKEN", 403)
    return transaction


@router.post(
    "/linked-authorization/link-code",
    summary="Generate Link Code endpoint",
    name="link_code",
    response_model=Envelope[LinkCode],
    response_model_exclude_unset=True,
)
def link_code(
    request: Request,
    session: AttemptSession,
    settings: Settings,
    secrets: ServerSecrets,
    payload: EnvelopeRequest[LinkCodeRequest],
) -> dict:
    body = payload.request
    transaction = _browser_transaction(request, session, secrets, body.transactionId)
    code, expires = service.generate_link_code(session, settings, secrets, transaction)
    return envelope.ok(
        {"transactionId": transaction.id, "linkCode": code, "expireDateTime": iso(expires, "milliseconds")}
    )


@router.get("/linked-authorization/link-code-qr", include_in_schema=False, name="link_code_qr")
def link_code_qr(linkCode: str = "") -> Response:  # query name of the page script
    code = "".join(ch for ch in linkCode.upper() if ch.isalnum())[:32]
    svg = segno.make(f"sandbox-wallet://link?linkCode={code}", error="m").svg_inline(scale=5)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


async def _long_poll(db: Database, seconds: float, check: Callable[[Session], dict | None]) -> dict:
    """Re-run `check(session)` until it answers (not None) or the long-poll time (`seconds`) is up."""
    deadline = time.monotonic() + seconds

    def attempt() -> dict | None:
        with db.session() as session:
            return check(session)

    while True:
        result = await run_in_threadpool(attempt)
        if result is not None:
            return envelope.ok(result)
        if time.monotonic() >= deadline:
            raise EnvelopeError("response_timeout", "no answer yet; poll again")
        await asyncio.sleep(0.2)


@router.post(
    "/linked-authorization/link-status",
    summary="Link status endpoint",
    name="link_status",
    response_model=Envelope[LinkStatus],
    response_model_exclude_unset=True,
)
async def link_status(
    request: Request, db: Db, settings: Settings, secrets: ServerSecrets, payload: EnvelopeRequest[LinkStatusRequest]
) -> dict:
    body = payload.request

    def check(session: Session) -> dict | None:
        transaction = _browser_transaction(request, session, secrets, body.transactionId)
        linked = service.by_link_code(session, secrets, body.linkCode)
        if linked is None or linked.id != transaction.id:
            raise EnvelopeError("invalid_link_code", "unknown link code for this transaction")
        if transaction.linked_at is None:
            return None
        return {
            "transactionId": transaction.id,
            "linkStatus": "LINKED",
            "linkedDateTime": str(int(transaction.linked_at.timestamp() * 1000)),
        }

    return await _long_poll(db, settings.long_poll_seconds, check)


@router.post(
    "/linked-authorization/link-auth-code",
    summary="Link authorization code endpoint",
    name="link_auth_code",
    response_model=Envelope[LinkAuthCode],
    response_model_exclude_unset=True,
)
async def link_auth_code(
    request: Request, db: Db, settings: Settings, secrets: ServerSecrets, payload: EnvelopeRequest[LinkAuthCodeRequest]
) -> dict:
    body = payload.request

    def check(session: Session) -> dict | None:
        transaction = _browser_transaction(request, session, secrets, body.transactionId)
        linked = service.by_link_code(session, secrets, body.linkedCode or body.linkCode)
        if linked is None or linked.id != transaction.id or transaction.linked_at is None:
            raise EnvelopeError("invalid_link_code", "link code is not linked to this transaction")
        if transaction.status != "consented":
            return None
        if transaction.code_hash is not None:
            raise EnvelopeError("invalid_transaction", "the authorization code was already handed out")
        code = oidc.issue_code(settings, secrets, transaction)
        return {
            "code": code,
            "redirectUri": transaction.redirect_uri,
            "state": transaction.state,
            "nonce": transaction.nonce,
        }

    return await _long_poll(db, settings.long_poll_seconds, check)


@router.post(
    "/linked-authorization/link-transaction",
    summary="Link Transaction endpoint",
    response_model=Envelope[LinkTransaction],
    response_model_exclude_unset=True,
)
def link_transaction(
    session: AttemptSession, secrets: ServerSecrets, payload: EnvelopeRequest[LinkTransactionRequest]
) -> dict:
    body = payload.request
    transaction, client = service.link_transaction(session, secrets, body.linkCode)
    return envelope.ok(
        {
            "linkTransactionId": transaction.link_transaction_id,
            "clientName": client.client_name,
            "logoUrl": client.logo_uri,
            "authorizeScopes": [s for s in transaction.scopes if s != "openid"],
            "essentialClaims": transaction.essential_claims,
            "voluntaryClaims": transaction.voluntary_claims,
            "authFactors": [[{"type": service.FACTOR_NAMES[f]}] for f in oidc.allowed_factors(transaction)],
            "configs": {},
        }
    )


@router.post(
    "/linked-authorization/send-otp",
    summary="Send OTP for a linked transaction (extension)",
    response_model=Envelope[LinkedTransaction],
    response_model_exclude_unset=True,
)
def linked_send_otp(
    session: AttemptSession,
    settings: Settings,
    secrets: ServerSecrets,
    limits: RateLimits,
    payload: EnvelopeRequest[LinkedOtpRequest],
) -> dict:
    body = payload.request
    transaction = service.by_linked_id(session, body.linkedTransactionId)
    limits.authentication.hit(transaction.client_id)
    oidc.send_otp(session, settings, secrets, transaction, str(body.individualId or ""))
    return envelope.ok({"linkedTransactionId": transaction.link_transaction_id})


@router.post(
    "/linked-authorization/authenticate",
    summary="Linked Authentication Endpoint",
    response_model=Envelope[LinkedTransaction],
    response_model_exclude_unset=True,
)
def linked_authenticate(
    session: AttemptSession,
    settings: Settings,
    secrets: ServerSecrets,
    limits: RateLimits,
    payload: EnvelopeRequest[LinkedAuthRequest],
) -> dict:
    body = payload.request
    transaction = service.by_linked_id(session, body.linkedTransactionId)
    limits.authentication.hit(transaction.client_id)
    individual_id = body.individualId
    if not isinstance(individual_id, str) or not individual_id.strip():
        raise EnvelopeError("invalid_identifier", "individualId is required")
    oidc.authenticate(  # a failed attempt counts: AttemptSession keeps it
        session,
        settings,
        secrets,
        transaction,
        individual_id.strip(),
        service.challenges(body.challengeList),
    )
    return envelope.ok({"linkedTransactionId": transaction.link_transaction_id})


@router.post(
    "/linked-authorization/consent",
    summary="Linked Consent Endpoint",
    response_model=Envelope[LinkedTransaction],
    response_model_exclude_unset=True,
)
def linked_consent(session: AttemptSession, payload: EnvelopeRequest[LinkedConsentRequest]) -> dict:
    body = payload.request
    transaction = service.by_linked_id(session, body.linkedTransactionId)
    if transaction.status != "authenticated":
        raise EnvelopeError("invalid_transaction", "the resident is not authenticated for this transaction")
    accepted = body.acceptedClaims or []
    scopes = body.permittedAuthorizeScopes
    if not isinstance(accepted, list) or not all(isinstance(c, str) for c in accepted):
        raise EnvelopeError("invalid_accepted_claim", "acceptedClaims must be a list of claim names")
    if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)):
        raise EnvelopeError("invalid_permitted_scope", "permittedAuthorizeScopes must be a list")
    oidc.give_consent(transaction, accepted, (["openid", *scopes] if scopes is not None else None))
    return envelope.ok({"linkedTransactionId": transaction.link_transaction_id})


def wallet_partner(request: Request, session: AttemptSession, secrets: ServerSecrets) -> str:
    """The calling wallet partner (`PARTNER-ID` + `PARTNER-API-KEY`), checked before the body is read."""
    partner_id = request.headers.get("partner-id")
    if not service.partner_valid(session, secrets, partner_id, request.headers.get("partner-api-key")):
        raise EnvelopeError("invalid_request", "unknown PARTNER-ID or wrong PARTNER-API-KEY", 401)
    return partner_id


WalletPartnerId = Annotated[str, Depends(wallet_partner)]


@router.post(
    "/wallet-binding",
    summary="Wallet Binding Endpoint (Draft)",
    response_model=Envelope[WalletBinding],
    response_model_exclude_unset=True,
)
def wallet_binding(
    session: AttemptSession,
    partner_id: WalletPartnerId,
    settings: Settings,
    secrets: ServerSecrets,
    keys: SigningKeys,
    limits: RateLimits,
    payload: EnvelopeRequest[WalletBindingRequest],
) -> dict:
    body = payload.request
    limits.authentication.hit(f"wallet-partner:{partner_id}")
    return envelope.ok(
        service.bind_wallet(session, settings, secrets, keys, partner_id, body.model_dump(exclude_unset=True))
    )


@admin_router.post(
    "/admin/wallet-partners",
    summary="Register a wallet partner (extension)",
    response_model=WalletPartner,
    response_model_exclude_unset=True,
    dependencies=[AdminOnly],
)
def register_wallet_partner(session: DbSession, secrets: ServerSecrets, payload: PartnerRequest) -> dict:
    partner_id = payload.partnerId
    api_key = service.register_partner(session, secrets, partner_id)
    return {"partnerId": partner_id, "apiKey": api_key}
