"""Consent verification for data consumers: does valid consent exist now, for one or many individuals?

Valid consent = the individual's latest record for the agreement (for the given agreement revision when one
is asked for) says `optIn: true`, the agreement is not deleted, and, if the caller requires it, the record's
current revision is signed. Whatever the number of individuals: one query for the agreement, one resolving
the individuals, one fetching the records (index on agreement, individual, time); the checks are handed to
the verification log writer, which bulk-inserts them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.consent.agreements.models import DataAgreement
from services.consent.db import iso, utcnow
from services.consent.errors import bad_request, not_found
from services.consent.individuals import service as individuals
from services.consent.records.models import SIGNED, ConsentRecord
from services.consent.revisions import service as revisions
from services.consent.verification.models import VerificationLog

MAX_INDIVIDUALS = 1000
LogSink = Callable[[list[dict]], None]

_RECORD_COLUMNS = (
    ConsentRecord.id, ConsentRecord.data_agreement_id, ConsentRecord.data_agreement_revision_id,
    ConsentRecord.data_agreement_revision_hash, ConsentRecord.individual_id, ConsentRecord.opt_in,
    ConsentRecord.state, ConsentRecord.signature_id, ConsentRecord.created_at,
)


def verify(session: Session, agreement_id: str, refs: list[str], caller: str, *, revision_id: str | None = None,
           require_signed: bool = False, sink: LogSink | None = None) -> tuple[list[dict], list[dict[str, Any]]]:
    refs = list(dict.fromkeys(r.strip() for r in refs if r and r.strip()))
    if not refs:
        raise bad_request("at least one individualId is required")
    if len(refs) > MAX_INDIVIDUALS:
        raise bad_request(f"at most {MAX_INDIVIDUALS} individuals per request")
    deleted = session.execute(select(DataAgreement.deleted).where(DataAgreement.id == agreement_id)).scalar()
    if deleted is None:
        raise not_found("data agreement", agreement_id)
    if revision_id:
        revision = revisions.get(session, revision_id)
        if revision is None or revision.schema_name != revisions.DATA_AGREEMENT or revision.object_id != agreement_id:
            raise not_found("revision of this data agreement", revision_id)

    resolved = individuals.resolve_many(session, refs)
    latest = _latest_records(session, agreement_id, set(resolved.values()), revision_id)
    answers = []
    for ref in refs:
        record = latest.get(resolved.get(ref, ""))
        consent = bool(record and record["optIn"] and not deleted and (record["state"] == SIGNED or not require_signed))
        answers.append({
            "individualId": ref,
            "dataAgreementId": agreement_id,
            "consent": consent,
            "consentRecordId": record["id"] if record else None,
            "dataAgreementRevisionId": record["dataAgreementRevision"] if record else None,
            "optIn": record["optIn"] if record else None,
            "state": record["state"] if record else None,
        })
    now = utcnow()
    (sink or _direct_sink(session))([
        {"checked_at": now, "data_agreement_id": agreement_id, "data_agreement_revision_id": revision_id,
         "individual_ref": a["individualId"][:255], "individual_id": resolved.get(a["individualId"]),
         "consent_record_id": a["consentRecordId"], "consent": a["consent"], "caller": caller}
        for a in answers
    ])
    found = [latest[i] for i in dict.fromkeys(resolved[r] for r in refs if r in resolved) if i in latest]
    return found, answers


def log_record_read(record: ConsentRecord, caller: str, sink: LogSink) -> None:
    sink([{
        "checked_at": utcnow(), "data_agreement_id": record.data_agreement_id,
        "data_agreement_revision_id": record.data_agreement_revision_id, "individual_ref": record.individual_id,
        "individual_id": record.individual_id, "consent_record_id": record.id, "consent": record.opt_in,
        "caller": caller,
    }])


def history(session: Session, offset: int, limit: int, agreement_id: str | None = None,
            individual_ref: str | None = None) -> list[dict[str, Any]]:
    query = select(VerificationLog)
    if agreement_id:
        query = query.where(VerificationLog.data_agreement_id == agreement_id)
    if individual_ref:
        query = query.where(
            (VerificationLog.individual_ref == individual_ref) | (VerificationLog.individual_id == individual_ref)
        )
    rows = session.scalars(query.order_by(VerificationLog.id.desc()).offset(offset).limit(limit))
    return [
        {"id": str(r.id), "timestamp": iso(r.checked_at), "dataAgreementId": r.data_agreement_id,
         "dataAgreementRevisionId": r.data_agreement_revision_id, "individualId": r.individual_ref,
         "resolvedIndividualId": r.individual_id, "consentRecordId": r.consent_record_id, "consent": r.consent,
         "caller": r.caller}
        for r in rows
    ]


def _latest_records(session: Session, agreement_id: str, individual_ids: set[str],
                    revision_id: str | None) -> dict[str, dict]:
    """The newest record per individual, already in API shape (no ORM objects on the hot path)."""
    if not individual_ids:
        return {}
    query = select(*_RECORD_COLUMNS).where(
        ConsentRecord.data_agreement_id == agreement_id, ConsentRecord.individual_id.in_(individual_ids)
    )
    if revision_id:
        query = query.where(ConsentRecord.data_agreement_revision_id == revision_id)
    latest: dict[str, dict] = {}
    for row in session.execute(query.order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())):
        if row.individual_id not in latest:
            latest[row.individual_id] = {
                "id": row.id, "dataAgreement": row.data_agreement_id,
                "dataAgreementRevision": row.data_agreement_revision_id,
                "dataAgreementRevisionHash": row.data_agreement_revision_hash, "individual": row.individual_id,
                "optIn": row.opt_in, "state": row.state, "signature": row.signature_id,
            }
    return latest


def _direct_sink(session: Session) -> LogSink:
    return lambda rows: session.execute(insert(VerificationLog), rows)
