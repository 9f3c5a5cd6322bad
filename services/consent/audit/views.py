from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.common.clock import as_utc
from services.consent import docs_models
from services.consent.agreements import service as agreements
from services.consent.audit import service
from services.consent.dependencies import DB, OrgSigner, Paging, VerificationLog, Who
from services.consent.docs_models import doc
from services.consent.errors import bad_request
from services.consent.records import service as records
from services.consent.revisions import service as revisions
from services.consent.signatures import service as signatures
from services.consent.verification import service as verification

router = APIRouter(tags=["auditor"])


@router.get("/audit/consent-records/", operation_id="auditConsentRecordList", responses=doc(docs_models.Records))
def consent_records(session: DB, paging: Paging, who: Who, dataAgreementId: str | None = None) -> dict:
    """Records of the caller's agreements (all of them for the operator), oldest first."""
    if dataAgreementId is not None:
        agreements.controlled(session, dataAgreementId, who)
    rows = records.listing(session, paging.offset, paging.limit, dataAgreementId, controller=who.scope)
    return {"consentRecords": [records.as_api(r) for r in rows]}


@router.get("/audit/consent-record/{consentRecordId}/", operation_id="auditConsentRecordRead")
def consent_record(consentRecordId: str, session: DB, who: Who) -> dict:
    """The record, its full revision history (`revisions`), the signatures over its revisions (`signatures`,
    with the evidence each rests on) and the integrity check of that chain. A forgotten record is a 400 whose
    `tombstone` is the revision recording the forgetting."""
    tombstone = None if records.exists(session, consentRecordId) else revisions.find_tombstone(session, consentRecordId)
    if tombstone is not None:
        agreements.controlled(session, revisions.object_data(tombstone)["dataAgreementId"], who)
        raise bad_request(
            f"consent record {consentRecordId!r} was forgotten (right to be forgotten)",
            tombstone=revisions.to_api(tombstone),
        )
    record = records.get(session, consentRecordId)
    agreements.controlled(session, record.data_agreement_id, who)
    history = revisions.history(session, revisions.CONSENT_RECORD, record.id)
    signed = service.signatures_of(session, [r.id for r in history])
    return {
        "consentRecord": records.as_api(record),
        "revisions": [revisions.to_api(r) for r in history],
        "signatures": [signatures.to_api(s) for r in history for s in signed.get(r.id, [])],
        "integrity": service.verify_object(session, revisions.CONSENT_RECORD, record.id),
    }


@router.get("/audit/data-agreements/", operation_id="auditDataAgreementList", responses=doc(docs_models.Agreements))
def data_agreements(session: DB, paging: Paging, who: Who) -> dict:
    """The caller's agreements (every one for the operator), deleted ones included (`deleted: true`)."""
    items = agreements.listing(session, paging.offset, paging.limit, include_deleted=True, controller=who.scope)
    return {"dataAgreements": items}


@router.get("/audit/data-agreement/{dataAgreementId}/", operation_id="auditDataAgreementRead")
def data_agreement(dataAgreementId: str, session: DB, who: Who) -> dict:
    """One of the caller's agreements, its history and the integrity check of that chain."""
    agreement, revision = agreements.read(session, dataAgreementId, include_deleted=True, who=who)
    history = revisions.history(session, revisions.DATA_AGREEMENT, dataAgreementId)
    return {
        "dataAgreement": agreement,
        "revision": revisions.to_api(revision),
        "revisions": [revisions.to_api(r) for r in history],
        "integrity": service.verify_object(session, revisions.DATA_AGREEMENT, dataAgreementId),
    }


@router.get("/audit/revisions/", operation_id="auditRevisionList")
def revision_search(
    session: DB,
    paging: Paging,
    who: Who,
    schemaName: Annotated[
        Literal["Policy", "DataAgreement", "ConsentRecord", "ConsentRecordTombstone"] | None, Query()
    ] = None,
    objectId: str | None = None,
    authorizedBy: Annotated[str | None, Query(description="authorizedByOther or authorizedByIndividual")] = None,
    since: Annotated[datetime | None, Query(description="UTC ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="UTC ISO 8601, exclusive")] = None,
    order: Literal["asc", "desc"] = "asc",
) -> dict:
    """Extension: every object's revision history, filtered and sorted by time (spec 6.3); a controller's
    objects only (policies it owns, its agreements, their records and tombstones)."""
    rows = revisions.search(
        session,
        paging.offset,
        paging.limit,
        schema_name=schemaName,
        object_id=objectId,
        authorized_by=authorizedBy,
        since=_utc(since),
        until=_utc(until),
        newest_first=order == "desc",
        where=None if who.scope is None else service.visible_revisions(session, who.scope),
    )
    return {"revisions": [revisions.to_api(r) for r in rows]}


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@router.get("/audit/integrity/", operation_id="auditIntegrityVerify")
def integrity(session: DB, who: Who) -> dict:
    """Extension: recompute every revision chain and signature; `ok: false` lists the first break per object.
    A controller's report covers its own objects and the tombstone chain."""
    return service.verify_all(session, who.scope)


@router.get("/audit/verifications/", operation_id="auditVerificationList")
def verifications(
    session: DB,
    writer: VerificationLog,
    paging: Paging,
    who: Who,
    dataAgreementId: str | None = None,
    individualId: str | None = None,
) -> dict:
    """Extension: the consent checks data consumers made of the caller's agreements, newest first."""
    if dataAgreementId is not None:
        agreements.controlled(session, dataAgreementId, who)
    if writer is not None:
        writer.flush()
    rows = verification.history(session, paging.offset, paging.limit, dataAgreementId, individualId, who.scope)
    return {"verifications": rows}


@router.get("/.well-known/jwks.json", tags=["auditor"], operation_id="jwks")
def jwks(signer: OrgSigner) -> dict:
    """The Consent BB's public signing key(s): verify the organisation's signatures on data agreements."""
    return signer.jwks()
