"""Administration (extension, admin token only): unlock an identity, read the verification audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity.base import iso
from services.identity.identities import lockout
from services.identity.identities.models import Identity
from services.identity.identities.service import find_by_individual_id
from services.identity.security import require_admin
from services.identity.verification import audit

router = APIRouter(prefix="/admin", tags=["Administration"])


def _identity(session: Session, individual_id: str) -> Identity | JSONResponse:
    identity = find_by_individual_id(session, individual_id.strip())
    if identity is None:
        return JSONResponse({"error": "not_found", "error_description": "unknown or inactive UIN/VID"}, 404)
    return identity


@router.post(
    "/identities/{individual_id}/unlock",
    summary="Unlock an identity locked after failed authentications (extension)",
    response_model=None,
)
def unlock_identity(individual_id: str, request: Request, session: Session = DBSession) -> dict | JSONResponse:
    require_admin(request)
    identity = _identity(session, individual_id)
    if isinstance(identity, JSONResponse):
        return identity
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


@router.get("/verification-audit", summary="Yes/no questions asked about a person (extension)", response_model=None)
def verification_audit(
    request: Request,
    individual_id: str = Query("", alias="individualId"),
    caller: str | None = Query(None),
    session: Session = DBSession,
) -> dict | JSONResponse:
    require_admin(request)
    if not individual_id.strip():
        return JSONResponse({"error": "invalid_request", "error_description": "individualId is required"}, 400)
    identity = _identity(session, individual_id)
    if isinstance(identity, JSONResponse):
        return identity
    settings = request.app.state.settings
    return {
        "individualId": individual_id,
        "quota": {"distinctQuestions": settings.verification_quota, "windowHours": 24},
        "usage": [{"caller": who, "distinctQuestions": n} for who, n in sorted(audit.usage(session, identity).items())],
        "questions": [
            {
                "askedAt": iso(q.asked_at),
                "caller": q.caller,
                "requestId": q.request_id,
                "predicate": q.predicate,
                "refused": q.refused,
            }
            for q in audit.trail(session, identity, caller)
        ],
    }
