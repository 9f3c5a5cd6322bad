"""Account mapper routes: the 1.0 API (PascalCase) and the v3 API (`/identityAccountMapper`, `/beneficiary`)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.assertion import VerifiedCall
from services.common.errors import APIError

from ..authorization import NotAllowed, check_source
from ..envelopes import SUCCESS, fail_v1, fail_v3, v1_body, v3_body, valid_callback_url
from ..settings import PaymentsSettings
from . import service
from .schemas import V1BeneficiaryRequest, V3BulkLookupRequest, V3RegisterRequest, V3UpdateRequest, body_fingerprint
from .service import Entry

router = APIRouter(tags=["Account mapper"], dependencies=[Depends(valid_callback_url)])

RECEIVED = "Request received; the per-beneficiary outcome is sent to the callback URL"


Caller = Depends(im_caller)


def _settings(request: Request) -> PaymentsSettings:
    return request.app.state.settings


def _source_of_caller(
    request: Request,
    caller: VerifiedCall | None,
    source: str | None,
    fail: Callable[[int, str, str], APIError],
    request_id: str,
) -> None:
    try:
        check_source(_settings(request), caller, source)
    except NotAllowed as exc:
        raise fail(403, str(exc), request_id) from exc


def _run_once(fail: Callable[[int, str, str], APIError], **request: object) -> dict:
    """`service.run_once`, a conflicting reuse of the request id answered 400 in the path's error shape."""
    try:
        return service.run_once(**request)
    except service.ReusedRequestID as exc:
        raise fail(400, str(exc), request["request_id"]) from exc


@router.post("/register-beneficiary", summary="Register beneficiaries in the account mapper (API 1.0)")
def register_v1(
    body: V1BeneficiaryRequest,
    request: Request,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL"),
    caller: VerifiedCall | None = Caller,
) -> dict:
    _source_of_caller(request, caller, body.SourceBBID, fail_v1, body.RequestID)
    entries = [
        Entry(b.PayeeFunctionalID, b.PaymentModality, b.FinancialAddress, b.BankingInstitutionCode)
        for b in body.Beneficiaries
    ]
    return _run_once(
        fail_v1,
        session=session,
        settings=_settings(request),
        operation="register",
        source=body.SourceBBID,
        request_id=body.RequestID,
        callback_url=x_callback_url,
        work=lambda: service.register(session, body.SourceBBID, entries),
        ack=v1_body(SUCCESS, RECEIVED, body.RequestID),
        id_key="payeeIdentity",
        request_hash=body.fingerprint(),
    )


@router.post("/update-beneficiary-details", summary="Update beneficiaries' payment details (API 1.0)")
def update_v1(
    body: V1BeneficiaryRequest,
    request: Request,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL"),
    caller: VerifiedCall | None = Caller,
) -> dict:
    _source_of_caller(request, caller, body.SourceBBID, fail_v1, body.RequestID)
    entries = [
        Entry(b.PayeeFunctionalID, b.PaymentModality, b.FinancialAddress, b.BankingInstitutionCode)
        for b in body.Beneficiaries
    ]
    return _run_once(
        fail_v1,
        session=session,
        settings=_settings(request),
        operation="update",
        source=body.SourceBBID,
        request_id=body.RequestID,
        callback_url=x_callback_url,
        work=lambda: service.update_beneficiaries(session, body.SourceBBID, entries),
        ack=v1_body(SUCCESS, RECEIVED, body.RequestID),
        id_key="payeeFunctionalID",
        request_hash=body.fingerprint(),
    )


@router.post("/identityAccountMapper/beneficiary", summary="Register beneficiaries in the ID mapper (v3)")
def register_v3(
    body: V3RegisterRequest,
    request: Request,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    institution: str | None = Header(default=None, alias="X-Registering-Institution-ID", max_length=12),
    caller: VerifiedCall | None = Caller,
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
    _source_of_caller(request, caller, institution, fail_v1, request_id)
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
    return _run_once(
        fail_v1,
        session=session,
        settings=_settings(request),
        operation="register",
        source=institution,
        request_id=request_id,
        callback_url=x_callback_url,
        work=lambda: service.register(session, institution, entries),
        ack=ack,
        id_key="payeeIdentity",
        request_hash=body_fingerprint(body),
    )


@router.put("/identityAccountMapper/beneficiary", summary="Update beneficiaries in the ID mapper (v3)")
def update_v3(
    body: V3UpdateRequest,
    request: Request,
    session: Session = DBSession,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    caller: VerifiedCall | None = Caller,
) -> dict:
    _source_of_caller(request, caller, body.sourceBBID, fail_v3, body.requestID)
    entries = [
        Entry(b.payeeIdentity, b.paymentModality, b.financialAddress, b.bankingInstitutionCode, b.status)
        for b in body.beneficiaries
    ]
    return _run_once(
        fail_v3,
        session=session,
        settings=_settings(request),
        operation="update",
        source=body.sourceBBID,
        request_id=body.requestID,
        callback_url=x_callback_url,
        work=lambda: service.update_beneficiaries(session, body.sourceBBID, entries),
        ack=v3_body(SUCCESS, RECEIVED, body.requestID),
        id_key="payeeFunctionalID",
        request_hash=body_fingerprint(body),
    )


@router.get("/beneficiary/", summary="Beneficiary details by functional id (v3)")
@router.get("/beneficiary", include_in_schema=False)
def lookup_v3(
    request: Request,
    session: Session = DBSession,
    payee_identity: str = Query(alias="payeeIdentity", min_length=1, max_length=20),
    request_id: str = Query(alias="requestId", min_length=1, max_length=12),
    institution: str | None = Header(default=None, alias="registeringInstitutionId", max_length=20),
    caller: VerifiedCall | None = Caller,
) -> dict:
    _source_of_caller(request, caller, institution, fail_v3, request_id)
    found = service.lookup(session, institution, [payee_identity])
    return {"requestId": request_id, "paymentModalityList": [service.modality_view(b) for b in found]}


@router.put("/beneficiary", summary="Bulk beneficiary lookup (v3)")
def bulk_lookup_v3(
    body: V3BulkLookupRequest,
    request: Request,
    session: Session = DBSession,
    institution: str | None = Header(default=None, alias="registeringInstitutionId", max_length=20),
    caller: VerifiedCall | None = Caller,
) -> dict:
    _source_of_caller(request, caller, institution, fail_v3, body.requestId)
    if any(not p or len(p) > 20 for p in body.payeePartyIds):
        raise fail_v3(400, "payeePartyIds must be 1 to 20 characters each", body.requestId)
    found = service.lookup(session, institution, body.payeePartyIds)
    return {"requestId": body.requestId, "paymentModalityList": [service.modality_view(b) for b in found]}
