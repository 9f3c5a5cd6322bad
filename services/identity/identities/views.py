"""Administration of identities (extension): change history, VID issue and revocation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity.base import iso
from services.identity.identities import service
from services.identity.identities.models import Vid
from services.identity.security import is_admin, relying_party

router = APIRouter(prefix="/identities", tags=["Identity administration"])


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "not_found", "error_description": "unknown or inactive UIN/VID"}, 404)


@router.get("/{individual_id}/history", summary="Change history of an identity", response_model=None)
def identity_history(individual_id: str, request: Request, session: Session = DBSession) -> dict | JSONResponse:
    relying_party(request)
    identity = service.find_by_individual_id(session, individual_id)
    if identity is None:
        return _not_found()
    with_values = is_admin(request)  # relying parties see what changed and when, not the values
    return {
        "history": [
            {
                "at": iso(change.at),
                "action": change.action,
                "source": change.source,
                "actor": change.actor,
                "fields": sorted(change.changes),
                **({"changes": change.changes} if with_values else {}),
            }
            for change in service.history(session, identity)
        ]
    }


@router.post("/{individual_id}/vids", summary="Issue a new VID", status_code=201, response_model=None)
def issue_vid(individual_id: str, request: Request, session: Session = DBSession) -> dict | JSONResponse:
    caller = relying_party(request)
    identity = service.find_by_individual_id(session, individual_id)
    if identity is None:
        return _not_found()
    return {"vid": service.issue_vid(session, identity, source="api", actor=caller)}


@router.delete("/vids/{vid}", summary="Revoke a VID", response_model=None)
def revoke_vid(vid: str, request: Request, session: Session = DBSession) -> dict | JSONResponse:
    caller = relying_party(request)
    record = session.get(Vid, vid) if service.INDIVIDUAL_ID.fullmatch(vid) else None
    if record is None:
        return _not_found()
    service.revoke_vid(session, record, source="api", actor=caller)
    return {"vid": vid, "status": "revoked", "revokedAt": iso(record.revoked_at)}
