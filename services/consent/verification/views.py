from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import Field
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from services.common.database import Database
from services.common.errors import APIError
from services.consent import docs_models
from services.consent.access import Principal
from services.consent.agreements import service as agreements
from services.consent.dependencies import (
    DB,
    ConsentDatabase,
    Paging,
    VerificationLog,
    Who,
    get_database,
    get_pg_checks,
    get_settings,
    get_verification_log,
    principal,
)
from services.consent.docs_models import doc
from services.consent.errors import bad_request, unavailable
from services.consent.records import service as records
from services.consent.revisions import service as revisions
from services.consent.schemas import SpecModel
from services.consent.verification import service
from services.consent.verification.log_writer import LogWriteError, LogWriter

if TYPE_CHECKING:  # psycopg is imported on PostgreSQL only (app.py)
    from services.consent.verification.pg_checks import PgChecks

router = APIRouter(tags=["service"])


class VerificationQuery(SpecModel):
    dataAgreementId: str = Field(min_length=1)
    individualIds: list[str] = Field(min_length=1, max_length=service.MAX_INDIVIDUALS)
    revisionId: str | None = None
    requireSigned: bool = False


def _split(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part.strip()]


def _verify(
    db: Database,
    writer: LogWriter | None,
    agreement_id: str,
    refs: list[str],
    who: Principal,
    revision_id: str | None,
    require_signed: bool,
) -> JSONResponse:
    """The hot path: the session is opened here rather than by a dependency (no extra thread-pool hops),
    and the answer, already plain JSON types, skips FastAPI's encoder. The checks are logged once the
    connection is back in the pool, and answered once the log has committed them."""
    checks: list[dict] = []
    with _reading(db) as connection:
        found, answers = service.verify(
            connection,
            agreement_id,
            refs,
            who.label,
            revision_id=revision_id,
            require_signed=require_signed,
            sink=checks.extend if writer else None,
            who=who,
        )
        connection.commit()
    if writer:
        _log(writer, checks)
    return JSONResponse({"consentRecords": found, "verifications": answers})


def _reading(db: Database) -> Connection:
    """A check reads in one statement (two with `revisionId`), each seeing what was committed before it, as
    under READ COMMITTED: on PostgreSQL it runs in autocommit, which spares the BEGIN and COMMIT round trips."""
    connection = db.engine.connect()
    return connection if db.is_sqlite else connection.execution_options(isolation_level="AUTOCOMMIT")


def _log_unavailable() -> APIError:
    """Durable before answered: a check the log could not store is not answered."""
    return unavailable("the check could not be logged; retry")


def _log(writer: LogWriter, checks: list[dict]) -> None:
    try:
        writer.store(checks)
    except LogWriteError as exc:
        raise _log_unavailable() from exc


SHORTCUT_QUERY = {"dataAgreementId", "individualId"}


class SingleCheckRoute(APIRoute):
    """A GET that asks only `dataAgreementId` and `individualId`s, which no parameter validation can refuse, is
    answered here, before FastAPI's request wrapping and its parameter and dependency solving (they cost more CPU
    than the check itself); its errors reach the app's handlers, which shape them as the route's would. Any other
    query, and an app whose dependencies are overridden, goes the documented way."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _single_check(Request(scope)) if scope["method"] == "GET" else None
        if response is None:
            return await super().handle(scope, receive, send)
        await response(scope, receive, send)


async def _single_check(request: Request) -> Response | None:
    """The answer to a shortcut check, or None when the request must take the documented way."""
    query = request.query_params
    agreement_id, refs = query.get("dataAgreementId"), _split(query.getlist("individualId"))
    if query.keys() != SHORTCUT_QUERY or not agreement_id or not refs or request.app.dependency_overrides:
        return None
    who = await principal(request, await get_settings(request))
    checks = await get_pg_checks(request)
    if checks is not None:
        return await _verify_on_loop(checks, agreement_id, refs, who)
    db, writer = await get_database(request), await get_verification_log(request)
    return await run_in_threadpool(_verify, db, writer, agreement_id, refs, who, None, False)


async def _verify_on_loop(checks: PgChecks, agreement_id: str, refs: list[str], who: Principal) -> JSONResponse:
    """`_verify` on PostgreSQL's asyncio driver, for the shortcut's checks (`pg_checks.py`)."""
    check = service.Check(agreement_id, service.clean_refs(refs), who.label, who=who)
    sql, params = service.lookup_statement("%s", agreement_id, check.refs, None)
    try:
        rows = await checks.reads.fetch(sql, params)
    except ConnectionError as exc:
        raise unavailable("the database could not be reached; retry") from exc
    found, answers, log_rows = check.conclude(rows)
    try:
        await checks.log.store(log_rows)
    except LogWriteError as exc:
        raise _log_unavailable() from exc
    return JSONResponse({"consentRecords": found, "verifications": answers})


def verify_records(
    db: ConsentDatabase,
    writer: VerificationLog,
    who: Who,
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
    check is logged for the auditor. With only `dataAgreementId`: that agreement's records, paged.
    The agreement's controller, the members it names in `dataConsumers`, or the operator."""
    refs = _split(individualId)
    if refs:
        if not dataAgreementId:
            raise bad_request("dataAgreementId is required to verify consent")
        return _verify(db, writer, dataAgreementId, refs, who, revisionId, requireSigned)
    with db.session() as session:
        _require_verifier(session, dataAgreementId, who)
        rows = records.listing(session, paging.offset, paging.limit, dataAgreementId)
        return JSONResponse({"consentRecords": [records.as_api(r) for r in rows]})


router.add_api_route(
    "/service/verification/consent-records/",
    verify_records,
    methods=["GET"],
    operation_id="serviceVerificationConsentRecordList",
    responses=doc(docs_models.VerificationAnswer),
    route_class_override=SingleCheckRoute,
)


@router.post(
    "/service/verification/consent-records/",
    operation_id="serviceVerificationConsentRecordBulk",
    responses=doc(docs_models.VerificationAnswer),
)
def verify_records_bulk(
    db: ConsentDatabase, writer: VerificationLog, body: VerificationQuery, who: Who
) -> JSONResponse:
    """Extension: the same check for up to 1000 individuals in a JSON body (no URL length limit)."""
    return _verify(db, writer, body.dataAgreementId, body.individualIds, who, body.revisionId, body.requireSigned)


def _require_verifier(session: Session, agreement_id: str | None, who: Principal) -> None:
    """Listing records without naming an agreement is the operator's; else the agreement's verifiers'."""
    if agreement_id is None:
        if not who.operator:
            raise bad_request("dataAgreementId is required")
        return
    agreement = agreements.controlled(session, agreement_id, None)
    agreements.require_verifier(who, agreement.controller_id, agreement.data_consumers)


@router.get(
    "/service/verification/consent-record/{consentRecordId}/",
    operation_id="serviceVerificationConsentRecordRead",
    responses=doc(docs_models.RecordAndRevision),
)
def verify_record(consentRecordId: str, session: DB, writer: VerificationLog, who: Who) -> dict:
    """One record, for a verifier of its agreement (the check is logged)."""
    record = records.get(session, consentRecordId)
    _require_verifier(session, record.data_agreement_id, who)
    service.log_record_read(record, who.label, partial(_log, writer) if writer else service.direct_sink(session))
    return {
        "consentRecord": records.as_api(record),
        "revision": revisions.to_api(records.head_revision(session, record)),
    }
