from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from sqlalchemy.orm import Session

from services.common.app import db_session
from services.consent.api import Page, SpecModel, caller, page
from services.consent.errors import bad_request
from services.consent.records import service as records
from services.consent.revisions import service as revisions
from services.consent.verification import service

router = APIRouter(tags=["service"])
DB = Annotated[Session, Depends(db_session)]
Caller = Annotated[str, Depends(caller)]
Paging = Annotated[Page, Depends(page)]


class VerificationQuery(SpecModel):
    dataAgreementId: str = Field(min_length=1)
    individualIds: list[str] = Field(min_length=1, max_length=service.MAX_INDIVIDUALS)
    revisionId: str | None = None
    requireSigned: bool = False


def log_sink(request: Request) -> service.LogSink | None:
    writer = getattr(request.app.state, "verification_log", None)
    return writer.submit if writer is not None else None


Sink = Annotated[service.LogSink | None, Depends(log_sink)]


def _split(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part.strip()]


@router.get("/service/verification/consent-records/", operation_id="serviceVerificationConsentRecordList")
def verify_records(
    session: DB, by: Caller, paging: Paging, sink: Sink,
    dataAgreementId: Annotated[str | None, Query(description="The agreement to verify consent for")] = None,
    individualId: Annotated[list[str] | None, Query(description="Repeat or comma-separate for many (id or externalId)")] = None,
    revisionId: Annotated[str | None, Query(description="Only consent to this agreement revision counts")] = None,
    requireSigned: Annotated[bool, Query(description="Only signed records count as consent")] = False,
) -> dict:
    """Does valid consent exist now? With `dataAgreementId` and one or more `individualId`s: the latest
    record of each (`consentRecords`) and a yes/no per individual (`verifications`, extension); every
    check is logged for the auditor. With only `dataAgreementId`: that agreement's records, paged."""
    refs = _split(individualId)
    if refs:
        if not dataAgreementId:
            raise bad_request("dataAgreementId is required to verify consent")
        found, answers = service.verify(session, dataAgreementId, refs, by, revision_id=revisionId,
                                        require_signed=requireSigned, sink=sink)
        return {"consentRecords": found, "verifications": answers}
    rows = records.listing(session, paging.offset, paging.limit, dataAgreementId)
    return {"consentRecords": [records.as_api(r) for r in rows]}


@router.post("/service/verification/consent-records/", operation_id="serviceVerificationConsentRecordBulk")
def verify_records_bulk(body: VerificationQuery, session: DB, by: Caller, sink: Sink) -> dict:
    """Extension: the same check for up to 1000 individuals in a JSON body (no URL length limit)."""
    found, answers = service.verify(session, body.dataAgreementId, body.individualIds, by,
                                    revision_id=body.revisionId, require_signed=body.requireSigned, sink=sink)
    return {"consentRecords": found, "verifications": answers}


@router.get("/service/verification/consent-record/{consentRecordId}/",
            operation_id="serviceVerificationConsentRecordRead")
def verify_record(consentRecordId: str, session: DB, by: Caller, sink: Sink) -> dict:
    record = records.get(session, consentRecordId)
    service.log_record_read(record, by, sink or service._direct_sink(session))
    return {"consentRecord": records.as_api(record), "revision": revisions.to_api(records.head_revision(session, record))}
