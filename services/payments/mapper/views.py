"""Account mapper routes: the 1.0 API (PascalCase) and the v3 API (`/identityAccountMapper`, `/beneficiary`)."""

from __future__ import annotations

from fastapi import Header, Query
from sqlalchemy.orm import Session

from services.common.app import DBSession

from .. import envelopes
from ..authorization import check_source
from ..dependencies import IMCaller, Settings
from ..envelopes import SUCCESS, answers, fail_v1, fail_v3, shaped_router, v1_body, v3_body
from ..schemas import V1Answer, V3Answer
from . import service
from .schemas import (
    LookupAnswer,
    V1BeneficiaryRequest,
    V3BulkLookupRequest,
    V3RegisterRequest,
    V3UpdateRequest,
    body_fingerprint,
)
from .service import Entry

# Each API generation answers errors in its own shape (envelopes.py).
_TAGS = ["Account mapper"]
v1_router = shaped_router(envelopes.v1_error, _TAGS)
mapper_router = shaped_router(envelopes.v3_mapper_error, _TAGS)
lookup_router = shaped_router(envelopes.v3_error, _TAGS)

RECEIVED = "Request received; the per-beneficiary outcome is sent to the callback URL"


@v1_router.post(
    "/register-beneficiary", summary="Register beneficiaries in the account mapper (API 1.0)", **answers(V1Answer)
)
def register_v1(
    body: V1BeneficiaryRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL"),
) -> dict:
    check_source(settings, caller, body.SourceBBID)
    entries = [
        Entry(b.PayeeFunctionalID, b.PaymentModality, b.FinancialAddress, b.BankingInstitutionCode)
        for b in body.Beneficiaries
    ]
    return service.run_once(
        session=session,
        settings=settings,
        operation="register",
        source=body.SourceBBID,
        request_id=body.RequestID,
        callback_url=x_callback_url,
        work=lambda: service.register(session, body.SourceBBID, entries),
        ack=v1_body(SUCCESS, RECEIVED, body.RequestID),
        id_key="payeeIdentity",
        request_hash=body.fingerprint(),
    )


@v1_router.post(
    "/update-beneficiary-details", summary="Update beneficiaries' payment details (API 1.0)", **answers(V1Answer)
)
def update_v1(
    body: V1BeneficiaryRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL"),
) -> dict:
    check_source(settings, caller, body.SourceBBID)
    entries = [
        Entry(b.PayeeFunctionalID, b.PaymentModality, b.FinancialAddress, b.BankingInstitutionCode)
        for b in body.Beneficiaries
    ]
    return service.run_once(
        session=session,
        settings=settings,
        operation="update",
        source=body.SourceBBID,
        request_id=body.RequestID,
        callback_url=x_callback_url,
        work=lambda: service.update_beneficiaries(session, body.SourceBBID, entries),
        ack=v1_body(SUCCESS, RECEIVED, body.RequestID),
        id_key="payeeFunctionalID",
        request_hash=body.fingerprint(),
    )


@mapper_router.post(
    "/identityAccountMapper/beneficiary",
    summary="Register beneficiaries in the ID mapper (v3)",
    **answers(V3Answer),
)
def register_v3(
    body: V3RegisterRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    institution: str | None = Header(default=None, alias="X-Registering-Institution-ID", max_length=12),
) -> dict:
    request_id = body.RequestID or body.requestID
    beneficiaries = body.Beneficiaries if body.Beneficiaries is not None else body.beneficiaries
    if not request_id:
        raise fail_v1(400, "RequestID is required", "")
    if not institution:
        raise fail_v1(400, "header X-Registering-Institution-ID is required", request_id)
    if not x_callback_url:
        raise fail_v1(400, "header X-Callback-URL is required", request_id)
    if not beneficiaries:
        raise fail_v1(400, "Beneficiaries must list at least one beneficiary", request_id)
    check_source(settings, caller, institution)
    entries = [
        Entry(
            b.payeeIdentity,
            b.PaymentModality or b.paymentModality,
            b.FinancialAddress or b.financialAddress,
            b.bankingInstitutionCode,
        )
        for b in beneficiaries
    ]
    ack = {"responseCode": SUCCESS, "responseDescription": RECEIVED, "requestID": request_id}
    return service.run_once(
        session=session,
        settings=settings,
        operation="register",
        source=institution,
        request_id=request_id,
        callback_url=x_callback_url,
        work=lambda: service.register(session, institution, entries),
        ack=ack,
        id_key="payeeIdentity",
        request_hash=body_fingerprint(body),
    )


@mapper_router.put(
    "/identityAccountMapper/beneficiary", summary="Update beneficiaries in the ID mapper (v3)", **answers(V3Answer)
)
def update_v3(
    body: V3UpdateRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
) -> dict:
    check_source(settings, caller, body.sourceBBID)
    entries = [
        Entry(b.payeeIdentity, b.paymentModality, b.financialAddress, b.bankingInstitutionCode, b.status)
        for b in body.beneficiaries
    ]
    return service.run_once(
        session=session,
        settings=settings,
        operation="update",
        source=body.sourceBBID,
        request_id=body.requestID,
        callback_url=x_callback_url,
        work=lambda: service.update_beneficiaries(session, body.sourceBBID, entries),
        ack=v3_body(SUCCESS, RECEIVED, body.requestID),
        id_key="payeeFunctionalID",
        request_hash=body_fingerprint(body),
    )


@lookup_router.get("/beneficiary/", summary="Beneficiary details by functional id (v3)", **answers(LookupAnswer))
@lookup_router.get("/beneficiary", include_in_schema=False, response_model=None)
def lookup_v3(
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    payee_identity: str = Query(alias="payeeIdentity", min_length=1, max_length=20),
    request_id: str = Query(alias="requestId", min_length=1, max_length=12),
    institution: str | None = Header(default=None, alias="registeringInstitutionId", max_length=20),
) -> dict:
    check_source(settings, caller, institution)
    found = service.lookup(session, institution, [payee_identity])
    return {"requestId": request_id, "paymentModalityList": [service.modality_view(b) for b in found]}


@lookup_router.put("/beneficiary", summary="Bulk beneficiary lookup (v3)", **answers(LookupAnswer))
def bulk_lookup_v3(
    body: V3BulkLookupRequest,
    caller: IMCaller,
    settings: Settings,
    session: Session = DBSession,
    institution: str | None = Header(default=None, alias="registeringInstitutionId", max_length=20),
) -> dict:
    check_source(settings, caller, institution)
    if any(not p or len(p) > 20 for p in body.payeePartyIds):
        raise fail_v3(400, "payeePartyIds must be 1 to 20 characters each", body.requestId)
    found = service.lookup(session, institution, body.payeePartyIds)
    return {"requestId": body.requestId, "paymentModalityList": [service.modality_view(b) for b in found]}
