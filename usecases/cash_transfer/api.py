"""REST API `/api/v1/...`, modelled on the GovStack sandbox's USCT backend (routes stay thin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.im_client import current_message_id
from usecases.common import trace
from usecases.common.schemas import AS_BUILT, Answer, TraceAnswer, Traced

from . import auth, bb, service
from .dependencies import DB, IM, Settings
from .models import Candidate, Enrollment, Package, PaymentOrder, UserSession

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


# Answers (for the OpenAPI document; see usecases/common/schemas.py) ---------------------------------------------


class RolesAnswer(Answer):
    authenticated: bool
    name: str | None = None
    roles: list[str]
    candidate_id: str | None = None


class PackageOut(Answer):
    id: str
    name: str
    description: str
    amount: str = Field(description="decimal, two digits")
    currency: str


class CandidateOut(Answer):
    id: str
    name: str
    locality: str
    consent_status: str = Field(description="none, requested, given, refused or withdrawn")
    consent_record_id: str | None = None
    enrolled: bool
    enrollment_id: str | None = None


class BeneficiaryOut(Answer):
    id: str
    candidate_id: str
    name: str
    package: PackageOut
    onboarding_status: str = Field(description="pending, onboarded or failed")
    onboarding_reason: str | None = None
    consent_status: str
    enrolled_at: str


class PaymentOrderOut(Answer):
    id: str
    beneficiary_id: str
    name: str | None = None
    batch_id: str
    request_id: str
    instruction_id: str
    amount: str
    currency: str
    status: str = Field(description="ordered, accepted, paid or failed")
    reason: str | None = None
    ordered_at: str
    updated_at: str


class PackagesAnswer(Answer):
    packages: list[PackageOut]


class CandidatesAnswer(Traced):
    candidates: list[CandidateOut]


class CandidateAnswer(Traced):
    candidate: CandidateOut


class MyConsentAnswer(CandidateAnswer):
    data_agreement: dict[str, Any] = Field(description="the data agreement, as the Consent BB holds it")


class BeneficiariesAnswer(Traced):
    beneficiaries: list[BeneficiaryOut]


class BeneficiaryAnswer(Traced):
    beneficiary: BeneficiaryOut


class MyBenefitsAnswer(Answer):
    candidate: CandidateOut
    beneficiary: BeneficiaryOut | None
    payments: list[PaymentOrderOut]


class PaymentOrdersAnswer(Traced):
    payment_orders: list[PaymentOrderOut]


def _any_officer(request: Request, session: Session) -> UserSession:
    user = auth.current_user(request, session)
    if user is not None and (OFFICER in user.roles or PAYER in user.roles):
        return user
    return auth.require(request, session, OFFICER)


@router.get("/roles", summary="The logged-in user's name and roles", response_model=RolesAnswer, **AS_BUILT)
def roles(request: Request, session: DB) -> dict:
    user = auth.current_user(request, session)
    if user is None:
        return {"authenticated": False, "roles": []}
    return {"authenticated": True, "name": user.name, "roles": user.roles, "candidateId": user.candidate_id}


@router.get("/packages", summary="Benefit packages", response_model=PackagesAnswer, **AS_BUILT)
def packages(request: Request, session: DB) -> dict:
    _any_officer(request, session)
    return {"packages": [service.package_view(p) for p in session.scalars(select(Package).order_by(Package.id))]}


@router.get(
    "/candidates",
    summary="Candidates with their live consent status (one bulk call to Consent)",
    response_model=CandidatesAnswer,
    **AS_BUILT,
)
def candidates(request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, OFFICER)
    rows = list(session.scalars(select(Candidate).order_by(Candidate.name)))
    service.refresh_consent(session, im, settings, rows)
    enrolled = {e.candidate_id: e for e in session.scalars(select(Enrollment))}
    service.record_action(session, current_message_id.get(), "list candidates", user)
    return {
        "candidates": [service.candidate_view(c, enrolled.get(c.id)) for c in rows],
        "messageId": current_message_id.get(),
    }


@router.post(
    "/consent",
    status_code=201,
    summary="Request consent from a candidate (a record is created in Consent)",
    response_model=CandidateAnswer,
    **AS_BUILT,
)
def request_consent(body: ConsentRequest, request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, OFFICER)
    candidate = service.get_candidate(session, body.candidateId)
    service.request_consent(session, im, settings, candidate)
    service.record_action(session, current_message_id.get(), "request consent", user)
    return {"candidate": service.candidate_view(candidate), "messageId": current_message_id.get()}


@router.get(
    "/consent",
    summary="The beneficiary's consent request, status and the data agreement",
    response_model=MyConsentAnswer,
    **AS_BUILT,
)
def my_consent(request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, BENEFICIARY)
    candidate = service.get_candidate(session, user.candidate_id)
    service.refresh_consent(session, im, settings, [candidate])
    agreement = bb.read_agreement(im, settings)
    return {
        "candidate": service.candidate_view(candidate, service.enrollment_of(session, candidate.id)),
        "dataAgreement": agreement.get("dataAgreement", agreement),
        "messageId": current_message_id.get(),
    }


@router.put(
    "/consent",
    summary="The beneficiary gives, refuses or withdraws consent (signed in Consent)",
    response_model=CandidateAnswer,
    **AS_BUILT,
)
def decide_consent(body: ConsentDecision, request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, BENEFICIARY)
    candidate = service.get_candidate(session, user.candidate_id)
    service.decide_consent(session, im, settings, candidate, user, body.decision)
    service.record_action(session, current_message_id.get(), f"consent: {body.decision}", user)
    return {"candidate": service.candidate_view(candidate), "messageId": current_message_id.get()}


@router.get(
    "/beneficiaries",
    summary="Enrolled beneficiaries with onboarding and consent status",
    response_model=BeneficiariesAnswer,
    **AS_BUILT,
)
def beneficiaries(request: Request, session: DB, im: IM, settings: Settings) -> dict:
    _any_officer(request, session)
    rows = session.execute(
        select(Enrollment, Candidate, Package).join(Candidate).join(Package).order_by(Enrollment.created_at)
    ).all()
    service.refresh_consent(session, im, settings, [c for _, c, _ in rows])
    return {
        "beneficiaries": [service.enrollment_view(e, c, p) for e, c, p in rows],
        "messageId": current_message_id.get(),
    }


@router.post(
    "/beneficiaries",
    status_code=201,
    summary="Enroll a candidate into a package (consent checked here)",
    response_model=BeneficiaryAnswer,
    **AS_BUILT,
)
def enroll(body: EnrollRequest, request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, OFFICER)
    candidate = service.get_candidate(session, body.candidateId)
    enrollment = service.enroll(session, im, settings, candidate, body.packageId, user)
    service.record_action(session, current_message_id.get(), "enroll", user)
    return {
        "beneficiary": service.enrollment_view(enrollment, candidate, session.get(Package, enrollment.package_id)),
        "messageId": current_message_id.get(),
    }


@router.get(
    "/beneficiaries/me",
    summary="The logged-in beneficiary's enrollment and payments",
    response_model=MyBenefitsAnswer,
    **AS_BUILT,
)
def my_benefits(request: Request, session: DB) -> dict:
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
    response_model=PaymentOrdersAnswer,
    **AS_BUILT,
)
def order_payment(body: PaymentOrderRequest, request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require(request, session, PAYER)
    orders = service.order_payment(session, im, settings, body.beneficiaryIds, user, body.requestId)
    service.record_action(session, current_message_id.get(), "order payment", user)
    return {"paymentOrders": [service.order_view(o) for o in orders], "messageId": current_message_id.get()}


@router.get(
    "/payment/payment-orders",
    summary="Payment orders and their status (ordered, accepted, paid, failed)",
    response_model=PaymentOrdersAnswer,
    **AS_BUILT,
)
def payment_orders(request: Request, session: DB) -> dict:
    _any_officer(request, session)
    rows = session.execute(
        select(PaymentOrder, Candidate.name)
        .join(Enrollment, PaymentOrder.enrollment_id == Enrollment.id)
        .join(Candidate, Enrollment.candidate_id == Candidate.id)
        .order_by(PaymentOrder.created_at.desc())
    ).all()
    return {"paymentOrders": [service.order_view(o, name) for o, name in rows]}


@router.get(
    "/trace/{messageId}",
    summary="The IM exchanges one action caused (behind the scenes)",
    response_model=TraceAnswer,
    **AS_BUILT,
)
def behind_the_scenes(messageId: str, request: Request, session: DB, settings: Settings) -> dict:
    if auth.current_user(request, session) is None:
        auth.require(request, session, OFFICER)
    return {
        "messageId": messageId,
        "traceUrl": trace.trace_link(settings, messageId),
        "exchanges": trace.exchanges(settings, messageId),
    }
