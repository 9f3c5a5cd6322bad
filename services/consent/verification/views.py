from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.errors import APIError
from services.consent import docs_models
from services.consent.api import Page, SpecModel, caller, page
from services.consent.docs_models import doc
from services.consent.errors import bad_request
from services.consent.records import service as records
from services.consent.revisions import service as revisions
from services.consent.verification import service
from services.consent.verification.log_writer import LogWriteError, LogWriter

router = APIRouter(tags=["service"])
DB = Annotated[Session, DBSession]
Caller = Annotated[str, Depends(caller)]
Paging = Annotated[Page, Depends(page)]


class VerificationQuery(SpecModel):
    dataAgreementId: str = Field(min_length=1)
    individualIds: list[str] = Field(min_length=1, max_length=service.MAX_INDIVIDUALS)
    revisionId: str | None = None
    requireSigned: bool = False


def _split(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part.strip()]


def _verify(
    request: Request, agreement_id: str, refs: list[str], by: str, revision_id: str | None, require_signed: bool
) -> JSONResponse:
    """The hot path: the session is opened here rather than by a dependency (no extra thread-pool hops),
    and the answer, already plain JSON types, skips FastAPI's encoder. The checks are logged once the
    connection is back in the pool, and answered once the log has committed them."""
    writer = getattr(request.app.state, "verification_log", None)
    checks: list[dict] = []
    with request.app.state.db.engine.connect() as connection:
        found, answers = service.verify(
            connection,
            agreement_id,
            refs,
            by,
            revision_id=revision_id,
            require_signed=require_signed,
            sink=checks.extend if writer else None,
        )
        connection.commit()
    if writer:
        _log(writer, checks)
    return JSONResponse({"consentRecords": found, "verifications": answers})


def _log(writer: LogWriter, checks: list[dict]) -> None:
    """Durable before answered: a check the log could not store is not answered."""
    try:
        writer.store(checks)
    except LogWriteError as exc:
        raise APIError(503, {"error": "error", "message": "the check could not be logged; retry"}) from exc


@router.get(
    "/service/verification/consent-records/",
    operation_id="serviceVerificationConsentRecordList",
    responses=doc(docs_models.VerificationAnswer),
)
def verify_records(
    request: Request,
    by: Caller,
    paging: Paging,
    dataAgreementId: Annotated[str | None, Query(description="The agreement to verify consent for")] = None,
    individualId: Annotated[
        list[str] | None, Query(description="Repeat or comma-separate for many (id or externalId)")
    ] = None,
    revisionId: Annotated[str | None, Query(description="Only consent to this agreement revision counts")] = None,
    requireSigned: Annotated[bool, Query(description="Only signed records count as consent")] = False,
) -> JSONResponse:
    """Does valid consent exist now? With `dataAgreementId` and one or more `individualId`s: the latest
    record of each (`consentRecords`) and a yes/no per individual (`verifications`, extension); every
    check is logged for the auditor. With only `dataAgreementId`: that agreement's records, paged."""
    refs = _split(individualId)
    if refs:
        if not dataAgreementId:
            raise bad_request("dataAgreementId is required to verify consent")
        return _verify(request, dataAgreementId, refs, by, revisionId, requireSigned)
    with request.app.state.db.session() as session:
        rows = records.listing(session, paging.offset, paging.limit, dataAgreementId)
        return JSONResponse({"consentRecords": [records.as_api(r) for r in rows]})


@router.post(
    "/service/verification/consent-records/",
    operation_id="serviceVerificationConsentRecordBulk",
    responses=doc(docs_models.VerificationAnswer),
)
def verify_records_bulk(request: Request, body: VerificationQuery, by: Caller) -> JSONResponse:
    """Extension: the same check for up to 1000 individuals in a JSON body (no URL length limit)."""
    return _verify(request, body.dataAgreementId, body.individualIds, by, body.revisionId, body.requireSigned)


@router.get(
    "/service/verification/consent-record/{consentRecordId}/",
    operation_id="serviceVerificationConsentRecordRead",
    responses=doc(docs_models.RecordAndRevision),
)
def verify_record(request: Request, consentRecordId: str, session: DB, by: Caller) -> dict:
    record = records.get(session, consentRecordId)
    writer = getattr(request.app.state, "verification_log", None)
    service.log_record_read(record, by, partial(_log, writer) if writer else service.direct_sink(session))
    return {
        "consentRecord": records.as_api(record),
        "revision": revisions.to_api(records.head_revision(session, record)),
    }
