"""`/linked-authorization/*` (wallet login by QR code) and `/wallet-binding`.

The browser-side calls (link-code, link-status, link-auth-code) need the `X-XSRF-TOKEN` header equal to
the `XSRF-TOKEN` cookie set by `/authorize`, and that token must be the one issued for the transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import segno
from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity import envelope, ratelimit
from services.identity.base import iso
from services.identity.envelope import EnvelopeError
from services.identity.linked import service
from services.identity.oidc import service as oidc
from services.identity.oidc.models import AuthTransaction
from services.identity.oidc.pages import XSRF_COOKIE
from services.identity.security import require_admin

router = APIRouter(tags=["Wallet - QR Code"])


def _answer(fn: Callable[..., dict[str, Any]], *args: Any) -> dict | JSONResponse:
    try:
        return envelope.ok(fn(*args))
    except EnvelopeError as exc:
        return envelope.failed([(exc.code, exc.message)], exc.status)
    except oidc.AuthFailed as exc:
        return envelope.failed([(exc.code, exc.message)])
    except ratelimit.RateLimited as exc:
        response = envelope.failed([("too_many_requests", str(exc))], 429)
        response.headers.update(exc.headers)
        return response


def _browser_transaction(request: Request, session: Session, transaction_id: Any) -> AuthTransaction:
    transaction = oidc.live_transaction(session, transaction_id)
    if transaction is None:
        raise EnvelopeError("invalid_transaction_id", "unknown or expired transaction")
    if not oidc.xsrf_valid(
        request.app.state.secrets, transaction, request.cookies.get(XSRF_COOKIE), request.headers.get("x-xsrf-token")
    ):
        raise EnvelopeError("invalid_request", "missing or wrong X-XSRF-TOKEN", 403)
    return transaction


@router.post(
    "/linked-authorization/link-code", summary="Generate Link Code endpoint", name="link_code", response_model=None
)
def link_code(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    def run() -> dict:
        body = envelope.request_part(payload)
        transaction = _browser_transaction(request, session, body.get("transactionId"))
        code, expires = service.generate_link_code(
            session, request.app.state.settings, request.app.state.secrets, transaction
        )
        return {"transactionId": transaction.id, "linkCode": code, "expireDateTime": iso(expires)}

    return _answer(run)


@router.get("/linked-authorization/link-code-qr", include_in_schema=False, name="link_code_qr")
def link_code_qr(linkCode: str = "") -> Response:  # query name of the page script
    code = "".join(ch for ch in linkCode.upper() if ch.isalnum())[:32]
    svg = segno.make(f"sandbox-wallet://link?linkCode={code}", error="m").svg_inline(scale=5)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


async def _long_poll(request: Request, check: Callable[[Session], dict | None]) -> dict | JSONResponse:
    """Re-run `check(session)` until it answers (not None) or the long-poll time is up."""
    deadline = time.monotonic() + request.app.state.settings.long_poll_seconds

    def attempt() -> dict | None:
        with request.app.state.db.session() as session:
            return check(session)

    while True:
        try:
            result = await run_in_threadpool(attempt)
        except EnvelopeError as exc:
            return envelope.failed([(exc.code, exc.message)], exc.status)
        if result is not None:
            return envelope.ok(result)
        if time.monotonic() >= deadline:
            return envelope.failed([("response_timeout", "no answer yet; poll again")])
        await asyncio.sleep(0.2)


@router.post(
    "/linked-authorization/link-status", summary="Link status endpoint", name="link_status", response_model=None
)
async def link_status(request: Request, payload: Any = Body(None)) -> dict | JSONResponse:
    try:
        body = envelope.request_part(payload)
    except EnvelopeError as exc:
        return envelope.failed([(exc.code, exc.message)])

    def check(session: Session) -> dict | None:
        transaction = _browser_transaction(request, session, body.get("transactionId"))
        linked = service.by_link_code(session, request.app.state.secrets, body.get("linkCode"))
        if linked is None or linked.id != transaction.id:
            raise EnvelopeError("invalid_link_code", "unknown link code for this transaction")
        if transaction.linked_at is None:
            return None
        return {
            "transactionId": transaction.id,
            "linkStatus": "LINKED",
            "linkedDateTime": str(int(transaction.linked_at.timestamp() * 1000)),
        }

    return await _long_poll(request, check)


@router.post(
    "/linked-authorization/link-auth-code",
    summary="Link authorization code endpoint",
    name="link_auth_code",
    response_model=None,
)
async def link_auth_code(request: Request, payload: Any = Body(None)) -> dict | JSONResponse:
    try:
        body = envelope.request_part(payload)
    except EnvelopeError as exc:
        return envelope.failed([(exc.code, exc.message)])
    settings, secrets_ = request.app.state.settings, request.app.state.secrets

    def check(session: Session) -> dict | None:
        transaction = _browser_transaction(request, session, body.get("transactionId"))
        linked = service.by_link_code(session, secrets_, body.get("linkedCode") or body.get("linkCode"))
        if linked is None or linked.id != transaction.id or transaction.linked_at is None:
            raise EnvelopeError("invalid_link_code", "link code is not linked to this transaction")
        if transaction.status != "consented":
            return None
        if transaction.code_hash is not None:
            raise EnvelopeError("invalid_transaction", "the authorization code was already handed out")
        code = oidc.issue_code(settings, secrets_, transaction)
        return {
            "code": code,
            "redirectUri": transaction.redirect_uri,
            "state": transaction.state,
            "nonce": transaction.nonce,
        }

    return await _long_poll(request, check)


@router.post("/linked-authorization/link-transaction", summary="Link Transaction endpoint", response_model=None)
def link_transaction(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    def run() -> dict:
        body = envelope.request_part(payload)
        transaction, client = service.link_transaction(session, request.app.state.secrets, body.get("linkCode"))
        return {
            "linkTransactionId": transaction.link_transaction_id,
            "clientName": client.client_name,
            "logoUrl": client.logo_uri,
            "authorizeScopes": [s for s in transaction.scopes if s != "openid"],
            "essentialClaims": transaction.essential_claims,
            "voluntaryClaims": transaction.voluntary_claims,
            "authFactors": [[{"type": service.FACTOR_NAMES[f]}] for f in oidc.allowed_factors(transaction)],
            "configs": {},
        }

    return _answer(run)


@router.post(
    "/linked-authorization/send-otp", summary="Send OTP for a linked transaction (extension)", response_model=None
)
def linked_send_otp(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    def run() -> dict:
        body = envelope.request_part(payload)
        transaction = service.by_linked_id(session, body.get("linkedTransactionId"))
        ratelimit.authentication_attempt(request, transaction.client_id)
        oidc.send_otp(
            session,
            request.app.state.settings,
            request.app.state.secrets,
            transaction,
            str(body.get("individualId") or ""),
        )
        return {"linkedTransactionId": transaction.link_transaction_id}

    return _answer(run)


@router.post("/linked-authorization/authenticate", summary="Linked Authentication Endpoint", response_model=None)
def linked_authenticate(
    request: Request, payload: Any = Body(None), session: Session = DBSession
) -> dict | JSONResponse:
    def run() -> dict:
        body = envelope.request_part(payload)
        transaction = service.by_linked_id(session, body.get("linkedTransactionId"))
        ratelimit.authentication_attempt(request, transaction.client_id)
        individual_id = body.get("individualId")
        if not isinstance(individual_id, str) or not individual_id.strip():
            raise EnvelopeError("invalid_identifier", "individualId is required")
        try:
            oidc.authenticate(
                session,
                request.app.state.settings,
                request.app.state.secrets,
                transaction,
                individual_id.strip(),
                service.challenges(body.get("challengeList")),
            )
        except oidc.AuthFailed:
            session.commit()  # the failed attempt counts
            raise
        return {"linkedTransactionId": transaction.link_transaction_id}

    return _answer(run)


@router.post("/linked-authorization/consent", summary="Linked Consent Endpoint", response_model=None)
def linked_consent(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    def run() -> dict:
        body = envelope.request_part(payload)
        transaction = service.by_linked_id(session, body.get("linkedTransactionId"))
        if transaction.status != "authenticated":
            raise EnvelopeError("invalid_transaction", "the resident is not authenticated for this transaction")
        accepted = body.get("acceptedClaims") or []
        scopes = body.get("permittedAuthorizeScopes")
        if not isinstance(accepted, list) or not all(isinstance(c, str) for c in accepted):
            raise EnvelopeError("invalid_accepted_claim", "acceptedClaims must be a list of claim names")
        if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)):
            raise EnvelopeError("invalid_permitted_scope", "permittedAuthorizeScopes must be a list")
        oidc.give_consent(transaction, accepted, (["openid", *scopes] if scopes is not None else None))
        return {"linkedTransactionId": transaction.link_transaction_id}

    return _answer(run)


@router.post("/wallet-binding", summary="Wallet Binding Endpoint (Draft)", response_model=None)
def wallet_binding(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    partner_id = request.headers.get("partner-id")
    if not service.partner_valid(
        session, request.app.state.secrets, partner_id, request.headers.get("partner-api-key")
    ):
        return envelope.failed([("invalid_request", "unknown PARTNER-ID or wrong PARTNER-API-KEY")], 401)

    def run() -> dict:
        body = envelope.request_part(payload)
        ratelimit.authentication_attempt(request, f"wallet-partner:{partner_id}")
        return service.bind_wallet(
            session, request.app.state.settings, request.app.state.secrets, request.app.state.keyring, partner_id, body
        )

    return _answer(run)


@router.post(
    "/admin/wallet-partners",
    tags=["Administration"],
    summary="Register a wallet partner (extension)",
    response_model=None,
)
def register_wallet_partner(
    request: Request, payload: Any = Body(None), session: Session = DBSession
) -> dict | JSONResponse:
    require_admin(request)
    partner_id = payload.get("partnerId") if isinstance(payload, dict) else None
    if not isinstance(partner_id, str) or not 1 <= len(partner_id) <= 64:
        return JSONResponse({"error": "invalid_request", "error_description": "partnerId required"}, 400)
    api_key = service.register_partner(session, request.app.state.secrets, partner_id)
    return {"partnerId": partner_id, "apiKey": api_key}
