"""Administration (extension, admin token only): unlock an identity, read the verification audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from services.common.clock import iso
from services.identity.dependencies import AdminOnly, DbSession, Settings
from services.identity.errors import IdentityError, UnknownIdentity
from services.identity.identities import lockout
from services.identity.identities.models import Identity
from services.identity.identities.schemas import Unlocked
from services.identity.identities.service import find_by_individual_id
from services.identity.verification import audit
from services.identity.verification.schemas import VerificationAudit

router = APIRouter(prefix="/admin", tags=["Administration"], dependencies=[AdminOnly])


def _identity(session: Session, individual_id: str) -> Identity:
    identity = find_by_individual_id(session, individual_id.strip())
    if identity is None:
        raise UnknownIdentity
    return identity


@router.post(
    "/identities/{individual_id}/unlock",
    summary="Unlock an identity locked after failed authentications (extension)",
    response_model=Unlocked,
    response_model_exclude_unset=True,
)
def unlock_identity(individual_id: str, session: DbSession) -> dict:
    identity = _identity(session, individual_id)
    before = lockout.unlock(session, identity, actor="admin")
    return {
        "individualId": individual_id,
        "unlocked": True,
        "before": {
            "lockedUntil": before["locked_until"],
            "failedAttempts": before["auth_failures"],
            "lockouts": before["auth_lockouts"],
        },
    }


@router.get(
    "/verification-audit",
    summary="Yes/no questions asked about a person (extension)",
    response_model=VerificationAudit,
    response_model_exclude_unset=True,
)
def verification_audit(
    session: DbSession,
    settings: Settings,
    individual_id: str = Query("", alias="individualId"),
    caller: str | None = Query(None),
) -> dict:
    if not individual_id.strip():
        raise IdentityError("invalid_request", "individualId is required")
    identity = _identity(session, individual_id)
    return {
        "individualId": individual_id,
        "quota": {"distinctQuestions": settings.verification_quota, "windowHours": 24},
        "usage": [{"caller": who, "distinctQuestions": n} for who, n in sorted(audit.usage(session, identity).items())],
        "questions": [
            {
                "askedAt": iso(q.asked_at, "milliseconds"),
                "caller": q.caller,
                "requestId": q.request_id,
                "predicate": q.predicate,
                "refused": q.refused,
            }
            for q in audit.trail(session, identity, caller)
        ],
    }
