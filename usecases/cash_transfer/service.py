"""The journey's rules: consent, enrollment, payment orders, and how callbacks advance them."""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common import demo_world
from services.common.clock import utcnow
from services.common.errors import APIError
from services.common.im_client import IMClient

from . import bb
from .models import Action, Candidate, Enrollment, Package, PaymentOrder, UserSession
from .settings import CashTransferSettings

CENT = Decimal("0.01")
MAX_LINK_QUESTIONS = 3  # namesake candidates asked about at one login
log = logging.getLogger(__name__)


def refuse(status: int, error: str, message: str, details: list | None = None) -> APIError:
    body = {"error": error, "message": message}
    if details:
        body["details"] = details
    return APIError(status, body)


def short_id() -> str:
    return secrets.token_hex(6)  # 12 characters: the Payments 1.0 API's RequestID/BatchID limit


def money(minor: int) -> str:
    return str((Decimal(minor) / 100).quantize(CENT))


def record_action(session: Session, message_id: str | None, name: str, user: UserSession) -> None:
    if message_id:
        session.add(Action(message_id=message_id, name=name, actor=user.name))


# Views --------------------------------------------------------------------------------------------------------


def candidate_view(c: Candidate, enrollment: Enrollment | None = None) -> dict:
    return {
        "id": c.id,
        "name": c.name,
        "locality": c.locality,
        "consentStatus": c.consent_status,
        "consentRecordId": c.consent_record_id,
        "enrolled": enrollment is not None,
        "enrollmentId": enrollment.id if enrollment else None,
    }


def package_view(p: Package) -> dict:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "amount": money(p.amount_minor),
        "currency": p.currency,
    }


def enrollment_view(e: Enrollment, c: Candidate, p: Package) -> dict:
    return {
        "id": e.id,
        "candidateId": c.id,
        "name": c.name,
        "package": package_view(p),
        "onboardingStatus": e.onboarding_status,
        "onboardingReason": e.onboarding_reason,
        "consentStatus": c.consent_status,
        "enrolledAt": e.created_at.isoformat(),
    }


def order_view(o: PaymentOrder, name: str | None = None) -> dict:
    return {
        "id": o.id,
        "beneficiaryId": o.enrollment_id,
        "name": name,
        "batchId": o.batch_id,
        "requestId": o.request_id,
        "instructionId": o.instruction_id,
        "amount": money(o.amount_minor),
        "currency": o.currency,
        "status": o.status,
        "reason": o.reason,
        "orderedAt": o.created_at.isoformat(),
        "updatedAt": o.updated_at.isoformat(),
    }


# Consent --------------------------------------------------------------------------------------------------------


def refresh_consent(
    session: Session, im: IMClient, settings: CashTransferSettings, candidates: list[Candidate]
) -> None:
    """Live status from Consent in one bulk call; a consent that disappeared shows as withdrawn."""
    live = bb.verify_consents(im, settings, [c.uin for c in candidates])
    for c in candidates:
        valid = live.get(c.uin, False)
        if valid and c.consent_status != "given":
            c.consent_status, c.consent_updated_at = "given", utcnow()
        elif not valid and c.consent_status == "given":
            c.consent_status, c.consent_updated_at = "withdrawn", utcnow()


def link_candidate(session: Session, im: IMClient, settings: CashTransferSettings, claims: dict) -> Candidate | None:
    """The candidate this login is: the one linked to its `sub` before, else a candidate with the verified
    name whose UIN Identity confirms to be this person (`subject_matches`), linked from now on. The name only
    narrows whom to ask about; e-mail plays no part."""
    sub, name = claims["sub"], str(claims.get("name") or "").strip()
    linked = session.scalars(select(Candidate).where(Candidate.sub == sub)).first()
    if linked is not None or not name:
        return linked
    namesakes = session.scalars(
        select(Candidate)
        .where(Candidate.sub.is_(None), func.lower(Candidate.name) == name.lower())
        .order_by(Candidate.id)
        .limit(MAX_LINK_QUESTIONS)
    ).all()
    for candidate in namesakes:
        try:
            confirmed = bb.subject_matches(im, settings, candidate.uin, sub)
        except APIError:
            log.warning("Identity did not answer; the candidate is linked at a later login")
            return None
        if confirmed:
            candidate.sub = sub
            return candidate
    return None


def get_candidate(session: Session, candidate_id: str) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise refuse(404, "not_found", "no such candidate")
    return candidate


def request_consent(session: Session, im: IMClient, settings: CashTransferSettings, candidate: Candidate) -> None:
    refresh_consent(session, im, settings, [candidate])
    if candidate.consent_status == "given":
        raise refuse(409, "consent_already_given", "this candidate has already given consent")
    candidate.consent_record_id = bb.create_consent_request(im, settings, candidate.uin)
    candidate.consent_status, candidate.consent_updated_at = "requested", utcnow()


def decide_consent(
    session: Session,
    im: IMClient,
    settings: CashTransferSettings,
    candidate: Candidate,
    user: UserSession,
    decision: str,
) -> None:
    """The beneficiary's own decision: give, refuse or withdraw, with their proof (the signed userinfo of their
    login); Consent signs it on our word."""
    if decision not in ("give", "refuse", "withdraw"):
        raise refuse(400, "invalid_request", "decision must be give, refuse or withdraw")
    evidence = {
        "method": "OIDC login at the Identity BB",
        "sub": user.sub,
        "at": utcnow().isoformat(),
        "decision": decision,
    }
    candidate.consent_record_id = bb.set_consent(
        im, settings, candidate.consent_record_id, candidate.uin, decision == "give", evidence, user.proof
    )
    new = {"give": "given", "refuse": "refused", "withdraw": "withdrawn"}[decision]
    candidate.consent_status, candidate.consent_updated_at = new, utcnow()


def consent_event(session: Session, body: dict) -> int:
    """A Consent webhook: a withdrawal or a signed opt-out made anywhere shows up for the officers without a
    new listing. Our consent request is a record with optIn=false that the individual has not signed, which
    Consent announces as `consent.refused`: that is a question still open, not an answer."""
    data = body.get("data") or {}
    record_id = data.get("consentRecordId")
    candidate = (
        session.scalars(select(Candidate).where(Candidate.consent_record_id == str(record_id))).first()
        if record_id
        else None
    )
    if candidate is None:
        return 0
    event, opted_out = body.get("event"), data.get("optIn") is False
    if event == "consent.withdrawn" and opted_out:
        candidate.consent_status = "withdrawn"
    elif event == "consent.refused" and opted_out and data.get("state") == "signed":
        candidate.consent_status = "withdrawn" if candidate.consent_status in ("given", "withdrawn") else "refused"
    else:
        return 0  # an unanswered request changes nothing; a given consent counts once the live verification says so
    candidate.consent_updated_at = utcnow()
    return 1


# Enrollment ------------------------------------------------------------------------------------------------------


def enrollment_of(session: Session, candidate_id: str) -> Enrollment | None:
    return session.scalars(select(Enrollment).where(Enrollment.candidate_id == candidate_id)).first()


def enroll(
    session: Session,
    im: IMClient,
    settings: CashTransferSettings,
    candidate: Candidate,
    package_id: str,
    user: UserSession,
) -> Enrollment:
    package = session.get(Package, package_id)
    if package is None:
        raise refuse(400, "invalid_request", "no such package")
    existing = enrollment_of(session, candidate.id)
    if existing is not None:
        return existing  # a retried enrollment answers the first one
    refresh_consent(session, im, settings, [candidate])
    if candidate.consent_status != "given":
        raise refuse(
            409, "consent_required", f"the candidate has not given consent (status: {candidate.consent_status})"
        )
    enrollment = Enrollment(
        candidate_id=candidate.id,
        package_id=package.id,
        functional_id=demo_world.functional_id(candidate.uin),
        mapper_request_id=short_id(),
        enrolled_by=user.name,
    )
    # Committed before the mapper is asked: the unique candidate decides between concurrent enrollments,
    # and the mapper's callback (which may come back at once) finds the row.
    try:
        session.add(enrollment)
        session.commit()
    except IntegrityError:
        session.rollback()
        return enrollment_of(session, candidate.id)
    try:
        bb.register_beneficiary(im, settings, enrollment.mapper_request_id, enrollment.functional_id, candidate.phone)
    except APIError:
        session.delete(enrollment)  # not registered: the officer may try again
        session.commit()
        raise
    return enrollment


def onboarding_callback(session: Session, body: dict) -> int:
    request_id = str(body.get("registerRequestID") or body.get("RegisterRequestID") or "")
    enrollment = session.scalars(select(Enrollment).where(Enrollment.mapper_request_id == request_id)).first()
    if enrollment is None:
        return 0
    failures = {str(f.get("payeeIdentity") or f.get("payeeFunctionalID")): f for f in body.get("failedCases") or []}
    failed = failures.get(enrollment.functional_id)
    enrollment.onboarding_status = "failed" if failed else "onboarded"
    enrollment.onboarding_reason = (failed or {}).get("failureReason")
    return 1


# Payment orders --------------------------------------------------------------------------------------------------


def order_payment(
    session: Session,
    im: IMClient,
    settings: CashTransferSettings,
    beneficiary_ids: list[str],
    user: UserSession,
    client_request_id: str | None,
) -> list[PaymentOrder]:
    if client_request_id:
        earlier = session.scalars(select(PaymentOrder).where(PaymentOrder.client_request_id == client_request_id)).all()
        if earlier:
            return list(earlier)
    if not beneficiary_ids or len(set(beneficiary_ids)) != len(beneficiary_ids):
        raise refuse(400, "invalid_request", "beneficiaryIds must be a non-empty list without repeats")
    rows = []
    problems = []
    for bid in beneficiary_ids:
        enrollment = session.get(Enrollment, bid)
        if enrollment is None:
            problems.append({"beneficiaryId": bid, "reason": "not enrolled"})
        elif enrollment.onboarding_status != "onboarded":
            problems.append({"beneficiaryId": bid, "reason": f"payment onboarding is {enrollment.onboarding_status}"})
        else:
            rows.append(enrollment)
    candidates = [session.get(Candidate, e.candidate_id) for e in rows]
    refresh_consent(session, im, settings, candidates)
    problems += [
        {"beneficiaryId": e.id, "reason": f"consent is {c.consent_status}"}
        for e, c in zip(rows, candidates, strict=True)
        if c.consent_status != "given"
    ]
    if problems:
        session.commit()  # keep the refreshed consent statuses; no order is written
        raise refuse(409, "payment_refused", "some beneficiaries cannot be paid; nothing was ordered", problems)
    request_id, batch_id = short_id(), short_id()
    orders = []
    for e in rows:
        package = session.get(Package, e.package_id)
        orders.append(
            PaymentOrder(
                enrollment_id=e.id,
                batch_id=batch_id,
                request_id=request_id,
                instruction_id=secrets.token_hex(8),
                amount_minor=package.amount_minor,
                currency=package.currency,
                ordered_by=user.name,
                client_request_id=client_request_id,
            )
        )
    session.add_all(orders)
    session.commit()  # "ordered" is visible while Payments works
    by_fid = {session.get(Enrollment, o.enrollment_id).functional_id: o for o in orders}
    instructions = [
        {
            "InstructionID": o.instruction_id,
            "PayeeFunctionalID": fid,
            "Amount": float(Decimal(money(o.amount_minor))),
            "Currency": o.currency,
            "Narration": "USCT benefit",
        }
        for fid, o in by_fid.items()
    ]
    _send(session, im, settings, request_id, batch_id, orders, instructions)
    return orders


def _send(
    session: Session,
    im: IMClient,
    settings: CashTransferSettings,
    request_id: str,
    batch_id: str,
    orders: list[PaymentOrder],
    instructions: list[dict],
) -> None:
    try:
        check = bb.prepayment_validation(im, settings, request_id, batch_id, instructions)
    except APIError as exc:
        _fail(orders, exc.body.get("message", "pre-payment validation failed"))
        session.commit()
        raise
    failed = {str(f.get("InstructionID")): f.get("FailureReason") for f in check.get("FailedCases") or []}
    for o in orders:
        if o.instruction_id in failed:
            _fail([o], "pre-payment validation: " + str(failed[o.instruction_id]))
    good = [i for i in instructions if i["InstructionID"] not in failed]
    if not good:
        session.commit()
        return
    try:
        bb.bulk_payment(im, settings, request_id, batch_id, good)
    except APIError as exc:
        _fail([o for o in orders if o.status == "ordered"], exc.body.get("message", "bulk payment refused"))
        session.commit()
        raise
    for o in orders:
        if o.status == "ordered":
            o.status, o.updated_at = "accepted", utcnow()


def _fail(orders: list[PaymentOrder], reason: str) -> None:
    for o in orders:
        o.status, o.reason, o.updated_at = "failed", reason[:200], utcnow()


def payment_callback(
    session: Session, im: IMClient, settings: CashTransferSettings, body: dict, correlation_id: str | None
) -> int:
    """BulkPaymentStatusUpdate: fetch the per-instruction outcome and advance each order to paid or failed."""
    request_id = correlation_id or body.get("requestId")
    orders = session.scalars(select(PaymentOrder).where(PaymentOrder.request_id == str(request_id))).all()
    if not orders:
        return 0
    payments_batch_id = str(body.get("batchId"))
    details = bb.batch_detail(im, settings, payments_batch_id)
    by_instruction = {d.get("transactionId"): d for d in details}
    changed = 0
    for o in orders:
        o.payments_batch_id = payments_batch_id
        d = by_instruction.get(o.instruction_id)
        if d is None or o.status in ("paid", "failed"):
            continue
        if d.get("status") == "COMPLETED":
            o.status, o.reason = "paid", None
        elif d.get("status") == "FAILED":
            o.status, o.reason = "failed", str(d.get("statusDetail") or "failed")[:200]
        else:
            continue
        o.updated_at = utcnow()
        changed += 1
    return changed
