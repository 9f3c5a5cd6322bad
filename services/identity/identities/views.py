"""Administration of identities (extension): change history, VID issue and revocation."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.clock import iso
from services.identity.dependencies import Caller, DbSession, IsAdmin
from services.identity.errors import UnknownIdentity
from services.identity.identities import service
from services.identity.identities.models import Vid
from services.identity.identities.schemas import History, NewVid, RevokedVid

router = APIRouter(prefix="/identities", tags=["Identity administration"])


@router.get(
    "/{individual_id}/history",
    summary="Change history of an identity",
    response_model=History,
    response_model_exclude_unset=True,
)
def identity_history(individual_id: str, session: DbSession, caller: Caller, admin: IsAdmin) -> dict:
    identity = service.find_by_individual_id(session, individual_id)
    if identity is None:
        raise UnknownIdentity
    with_values = admin  # relying parties see what changed and when, not the values
    return {
        "history": [
            {
                "at": iso(change.at, "milliseconds"),
                "action": change.action,
                "source": change.source,
                "actor": change.actor,
                "fields": sorted(change.changes),
                **({"changes": change.changes} if with_values else {}),
            }
            for change in service.history(session, identity)
        ]
    }


@router.post(
    "/{individual_id}/vids",
    summary="Issue a new VID",
    status_code=201,
    response_model=NewVid,
    response_model_exclude_unset=True,
)
def issue_vid(individual_id: str, session: DbSession, caller: Caller) -> dict:
    identity = service.find_by_individual_id(session, individual_id)
    if identity is None:
        raise UnknownIdentity
    return {"vid": service.issue_vid(session, identity, source="api", actor=caller)}


@router.delete("/vids/{vid}", summary="Revoke a VID", response_model=RevokedVid, response_model_exclude_unset=True)
def revoke_vid(vid: str, session: DbSession, caller: Caller) -> dict:
    record = session.get(Vid, vid) if service.INDIVIDUAL_ID.fullmatch(vid) else None
    if record is None:
        raise UnknownIdentity
    service.revoke_vid(session, record, source="api", actor=caller)
    return {"vid": vid, "status": "revoked", "revokedAt": iso(record.revoked_at, "milliseconds")}
