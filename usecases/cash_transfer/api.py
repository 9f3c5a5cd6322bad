"""REST API `/api/v1/...`, modelled on the GovStack sandbox's USCT backend (routes stay thin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.im_client import IMClient, current_message_id
from usecases.common.db import Registry as DBSession

from . import auth, bb, service
from .models import Candidate, Enrollment, Package, PaymentOrder, UserSession
from .settings import CashTransferSettings

router = APIRouter(prefix="/api/v1", tags=["USCT"])
OFFICER, PAYER, BENEFICIARY = "enrollment_officer", "payment_officer", "beneficiary"


class ConsentRequest(BaseModel):
    candidateId: str = Field(min_length=1, max_length=36)


class ConsentDecision(BaseModel):
    decision: str = Field(pattern="^(give|refuse|withdraw)$", description="give, refuse or withdraw")


class EnrollRequest(BaseModel):
    candidateId: str = Field(min_length=1, max_length=36)
    packageId: str = Field(min_length=1, max_length=36)


class PaymentOrderRequest(BaseModel):
    beneficiaryIds: list[str] = Field(min_length=1, max_length=1000)
    requestId: str | None = Field(
        default=None, max_length=64, description="retry key: a retry returns the first answer"
    )


def _settings(request: Request) -> CashTransferSettings:
    return request.app.state.settings


def _im(request: Request) -> IMClient:
    return request.app.state.im


def _any_officer(request: Request, session: Session) -> UserSession:
    user = auth.current_user(request, session)
    if user is not None and (OFFICER in user.roles or PAYER in user.roles):
        return user
    return auth.require(request, session, OFFICER)


@router.get("/roles", summary="The logged-in user's name and roles")
def roles(request: Request, session: Session = DBSession) -> dict:
    user = auth.current_user(request, session)
    if user is None:
        return {"authenticated": False, "roles": []}
    return {"authenticated": True, "name": user.name, "roles": user.roles, "candidateId": user.candidate_id}


@router.get("/packages", summary="Benefit packages")
def packages(request: Request, session: Session = DBSession) -> dict:
    _any_officer(request, session)
    return {"packages": [service.package_view(p) for p in session.scalars(select(Package).order_by(Package.id))]}


@router.get("/candidates", summary="Candidates with their live consent status (one bulk call to Consent)")
async def candidates(request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, OFFICER)
    rows = list(session.scalars(select(Candidate).order_by(Candidate.name)))
    await service.refresh_consent(session, _im(request), _settings(request), rows)
    enrolled = {e.candidate_id: e for e in session.scalars(select(Enrollment))}
    service.record_action(session, current_message_id.get(), "list candidates", user)
    return {
        "candidates": [service.candidate_view(c, enrolled.get(c.id)) for c in rows],
        "messageId": current_message_id.get(),
    }


@router.post("/consent", status_code=201, summary="Request consent from a candidate (a record is created in Consent)")
async def request_consent(body: ConsentRequest, request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, OFFICER)
    candidate = service.get_candidate(session, body.candidateId)
    await service.request_consent(session, _im(request), _settings(request), candidate)
    service.record_action(session, current_message_id.get(), "request consent", user)
    return {"candidate": service.candidate_view(candidate), "messageId": current_message_id.get()}


@router.get("/consent", summary="The beneficiary's consent request, status and the data agreement")
async def my_consent(request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, BENEFICIARY)
    candidate = service.get_candidate(session, user.candidate_id)
    await service.refresh_consent(session, _im(request), _settings(request), [candidate])
    agreement = await bb.read_agreement(_im(request), _settings(request))
    return {
        "candidate": service.candidate_view(candidate, service.enrollment_of(session, candidate.id)),
        "dataAgreement": agreement.get("dataAgreement", agreement),
        "messageId": current_message_id.get(),
    }


@router.put("/consent", summary="The beneficiary gives, refuses or withdraws consent (signed in Consent)")
async def decide_consent(body: ConsentDecision, request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, BENEFICIARY)
    candidate = service.get_candidate(session, user.candidate_id)
    await service.decide_consent(session, _im(request), _settings(request), candidate, user, body.decision)
    service.record_action(session, current_message_id.get(), f"consent: {body.decision}", user)
    return {"candidate": service.candidate_view(candidate), "messageId": current_message_id.get()}


@router.get("/beneficiaries", summary="Enrolled beneficiaries with onboarding and consent status")
async def beneficiaries(request: Request, session: Session = DBSession) -> dict:
    _any_officer(request, session)
    rows = session.execute(
        select(Enrollment, Candidate, Package).join(Candidate).join(Package).order_by(Enrollment.created_at)
    ).all()
    await service.refresh_consent(session, _im(request), _settings(request), [c for _, c, _ in rows])
    return {
        "beneficiaries": [service.enrollment_view(e, c, p) for e, c, p in rows],
        "messageId": current_message_id.get(),
    }


@router.post("/beneficiaries", status_code=201, summary="Enroll a candidate into a package (consent checked here)")
async def enroll(body: EnrollRequest, request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, OFFICER)
    candidate = service.get_candidate(session, body.candidateId)
    enrollment = await service.enroll(session, _im(request), _settings(request), candidate, body.packageId, user)
    service.record_action(session, current_message_id.get(), "enroll", user)
    return {
        "beneficiary": service.enrollment_view(enrollment, candidate, session.get(Package, enrollment.package_id)),
        "messageId": current_message_id.get(),
    }


@router.get("/beneficiaries/me", summary="The logged-in beneficiary's enrollment and payments")
def my_benefits(request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, BENEFICIARY)
    candidate = service.get_candidate(session, user.candidate_id)
    enrollment = service.enrollment_of(session, candidate.id)
    orders = (
        []
        if enrollment is None
        else session.scalars(
            select(PaymentOrder).where(PaymentOrder.enrollment_id == enrollment.id).order_by(PaymentOrder.created_at)
        ).all()
    )
    return {
        "candidate": service.candidate_view(candidate, enrollment),
        "beneficiary": service.enrollment_view(enrollment, candidate, session.get(Package, enrollment.package_id))
        if enrollment
        else None,
        "payments": [service.order_view(o, candidate.name) for o in orders],
    }


@router.post(
    "/payment/order-payment",
    status_code=201,
    summary="Order payment: pre-payment validation, then the bulk payment (consent re-checked)",
)
async def order_payment(body: PaymentOrderRequest, request: Request, session: Session = DBSession) -> dict:
    user = auth.require(request, session, PAYER)
    orders = await service.order_payment(
        session, _im(request), _settings(request), body.beneficiaryIds, user, body.requestId
    )
    service.record_action(session, current_message_id.get(), "order payment", user)
    return {"paymentOrders": [service.order_view(o) for o in orders], "messageId": current_message_id.get()}


@router.get("/payment/payment-orders", summary="Payment orders and their status (ordered, accepted, paid, failed)")
def payment_orders(request: Request, session: Session = DBSession) -> dict:
    _any_officer(request, session)
    rows = session.execute(
        select(PaymentOrder, Candidate.name)
        .join(Enrollment, PaymentOrder.enrollment_id == Enrollment.id)
        .join(Candidate, Enrollment.candidate_id == Candidate.id)
        .order_by(PaymentOrder.created_at.desc())
    ).all()
    return {"paymentOrders": [service.order_view(o, name) for o, name in rows]}


@router.get("/trace/{messageId}", summary="The IM exchanges one action caused (behind the scenes)")
async def behind_the_scenes(messageId: str, request: Request, session: Session = DBSession) -> dict:
    from usecases.common import trace

    if auth.current_user(request, session) is None:
        auth.require(request, session, OFFICER)
    settings = _settings(request)
    return {
        "messageId": messageId,
        "traceUrl": trace.trace_link(settings, messageId),
        "exchanges": await trace.exchanges(settings, messageId),
    }
