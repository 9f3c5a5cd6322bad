"""Callback routes, reached through the IM service `SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks`:
exactly the URLs this use case registers with Payments."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from services.common.app import im_caller
from services.common.assertion import VerifiedCall
from usecases.common.db import Registry as DBSession

from . import service
from .models import CallbackReceived

router = APIRouter(prefix="/callbacks", tags=["callbacks"])
PAYMENTS_CLIENT = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
CONSENT_CLIENT = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"


def _via_im(request: Request, client: str) -> VerifiedCall:
    """Callbacks are accepted only through the IM, from the expected application (its signed assertion)."""
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        raise service.refuse(401, "unauthorized", "callbacks are accepted only through the IM")
    if caller.client != client:
        raise service.refuse(403, "forbidden", f"only {client} may call back here")
    return caller


def payments_via_im(request: Request) -> VerifiedCall:
    return _via_im(request, PAYMENTS_CLIENT)


def consent_via_im(request: Request) -> VerifiedCall:
    return _via_im(request, CONSENT_CLIENT)


async def _body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise service.refuse(400, "invalid_request", "the body must be a JSON object")
    return body


def _log(session: Session, kind: str, reference: str, caller: VerifiedCall | None, body: dict) -> None:
    session.add(CallbackReceived(kind=kind, reference=reference, caller=caller.client if caller else None, body=body))


@router.post("/register-beneficiary", summary="Account mapper outcome (RegisterBeneficiaryResponse)")
async def register_beneficiary(
    request: Request, session: Session = DBSession, caller: VerifiedCall = Depends(payments_via_im)
) -> dict:
    body = await _body(request)
    _log(session, "register-beneficiary", str(body.get("registerRequestID")), caller, body)
    return {"received": True, "updated": service.onboarding_callback(session, body)}


@router.post("/bulk-payment", summary="Bulk payment status (BulkPaymentStatusUpdate)")
async def bulk_payment(
    request: Request,
    session: Session = DBSession,
    caller: VerifiedCall = Depends(payments_via_im),
    correlation_id: str | None = Query(default=None, alias="X-CorrelationID", max_length=64),
) -> dict:
    body = await _body(request)
    _log(session, "bulk-payment", correlation_id or str(body.get("requestId")), caller, body)
    session.commit()
    return {
        "received": True,
        "updated": await service.payment_callback(session, request.app.state.im, body, correlation_id),
    }


@router.post("/consent", summary="Consent BB webhook (consent.given / refused / withdrawn), HMAC-signed")
async def consent_event(
    request: Request, session: Session = DBSession, caller: VerifiedCall = Depends(consent_via_im)
) -> dict:
    raw = await request.body()
    secret = request.app.state.consent_webhook_secret
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-ConsentBB-Signature", "")):
        raise service.refuse(401, "unauthorized", "bad webhook signature")
    body = await _body(request)
    _log(session, "consent", str(body.get("event")), caller, body)
    return {"received": True, "updated": service.consent_event(session, body)}
