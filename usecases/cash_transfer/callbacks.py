"""Callback routes, reached through the IM service `SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks`:
exactly the URLs this use case registers with Payments."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from services.common.app import im_caller
from services.common.assertion import VerifiedCall
from usecases.common.schemas import CallbackAnswer

from . import service
from .dependencies import DB, IM, JSONObject, RawBody, Settings, WebhookSecret
from .models import CallbackReceived

router = APIRouter(prefix="/callbacks", tags=["callbacks"])


def _via_im(request: Request, client: str) -> VerifiedCall:
    """Callbacks are accepted only through the IM, from the expected application (its signed assertion)."""
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        raise service.refuse(401, "unauthorized", "callbacks are accepted only through the IM")
    if caller.client != client:
        raise service.refuse(403, "forbidden", f"only {client} may call back here")
    return caller


async def payments_via_im(request: Request, settings: Settings) -> VerifiedCall:
    return _via_im(request, settings.payments_client)


async def consent_via_im(request: Request, settings: Settings) -> VerifiedCall:
    return _via_im(request, settings.consent_client)


FromPayments = Annotated[VerifiedCall, Depends(payments_via_im)]


async def signed_by_consent(
    request: Request, caller: Annotated[VerifiedCall, Depends(consent_via_im)], raw: RawBody, secret: WebhookSecret
) -> VerifiedCall:
    """Consent, through the IM, signs each webhook with the secret we gave it (HMAC-SHA256 of the body)."""
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-ConsentBB-Signature", "")):
        raise service.refuse(401, "unauthorized", "bad webhook signature")
    return caller


SignedByConsent = Annotated[VerifiedCall, Depends(signed_by_consent)]


def _log(session: Session, kind: str, reference: str, caller: VerifiedCall | None, body: dict) -> None:
    session.add(CallbackReceived(kind=kind, reference=reference, caller=caller.client if caller else None, body=body))


@router.post(
    "/register-beneficiary",
    summary="Account mapper outcome (RegisterBeneficiaryResponse)",
    response_model=CallbackAnswer,
)
def register_beneficiary(session: DB, caller: FromPayments, body: JSONObject) -> dict:
    _log(session, "register-beneficiary", str(body.get("registerRequestID")), caller, body)
    return {"received": True, "updated": service.onboarding_callback(session, body)}


@router.post("/bulk-payment", summary="Bulk payment status (BulkPaymentStatusUpdate)", response_model=CallbackAnswer)
def bulk_payment(
    session: DB,
    im: IM,
    settings: Settings,
    caller: FromPayments,
    body: JSONObject,
    correlation_id: str | None = Query(default=None, alias="X-CorrelationID", max_length=64),
) -> dict:
    _log(session, "bulk-payment", correlation_id or str(body.get("requestId")), caller, body)
    session.commit()
    return {"received": True, "updated": service.payment_callback(session, im, settings, body, correlation_id)}


@router.post(
    "/consent",
    summary="Consent BB webhook (consent.given / refused / withdrawn), HMAC-signed",
    response_model=CallbackAnswer,
)
def consent_event(session: DB, caller: SignedByConsent, body: JSONObject) -> dict:
    _log(session, "consent", str(body.get("event")), caller, body)
    return {"received": True, "updated": service.consent_event(session, body)}
