"""Consent verification for data consumers: does valid consent exist now, for one or many individuals?

Valid consent = the individual's latest record for the agreement (for the given agreement revision when one
is asked for) says `optIn: true`, the agreement is not deleted, and, if the caller requires it, the record's
current revision is signed. One query resolves the individuals, one fetches the records (indexed on
agreement, individual, time), one bulk insert records every check for the auditor.
"""
from __future__ import annotations

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


def verify(session: Session, agreement_id: str, refs: list[str], caller: str, *, revision_id: str | None = None,
           require_signed: bool = False) -> tuple[list[ConsentRecord], list[dict[str, Any]]]:
    refs = list(dict.fromkeys(r.strip() for r in refs if r and r.strip()))
    if not refs:
        raise bad_request("at least one individualId is required")
    if len(refs) > MAX_INDIVIDUALS:
        raise bad_request(f"at most {MAX_INDIVIDUALS} individuals per request")
    agreement = session.get(DataAgreement, agreement_id)
    if agreement is None:
        raise not_found("data agreement", agreement_id)
    if revision_id:
        revision = revisions.get(session, revision_id)
        if revision is None or revision.schema_name != revisions.DATA_AGREEMENT or revision.object_id != agreement_id:
            raise not_found("revision of this data agreement", revision_id)

    resolved = individuals.resolve_many(session, refs)
    latest = _latest_records(session, agreement_id, set(resolved.values()), revision_id)
    answers = []
    for ref in refs:
        individual_id = resolved.get(ref)
        record = latest.get(individual_id) if individual_id else None
        consent = bool(record and record.opt_in and not agreement.deleted and (record.state == SIGNED or not require_signed))
        answers.append({
            "individualId": ref,
            "dataAgreementId": agreement_id,
            "consent": consent,
            "consentRecordId": record.id if record else None,
            "dataAgreementRevisionId": record.data_agreement_revision_id if record else None,
            "optIn": record.opt_in if record else None,
            "state": record.state if record else None,
        })
    _log(session, agreement_id, revision_id, answers, resolved, caller)
    found = [latest[i] for i in dict.fromkeys(resolved[r] for r in refs if r in resolved) if i in latest]
    return found, answers


def log_record_read(session: Session, record: ConsentRecord, caller: str) -> None:
    session.execute(insert(VerificationLog), [{
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
                    revision_id: str | None) -> dict[str, ConsentRecord]:
    if not individual_ids:
        return {}
    query = select(ConsentRecord).where(
        ConsentRecord.data_agreement_id == agreement_id, ConsentRecord.individual_id.in_(individual_ids)
    )
    if revision_id:
        query = query.where(ConsentRecord.data_agreement_revision_id == revision_id)
    latest: dict[str, ConsentRecord] = {}
    for record in session.scalars(query.order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())).unique():
        latest.setdefault(record.individual_id, record)
    return latest


def _log(session: Session, agreement_id: str, revision_id: str | None, answers: list[dict], resolved: dict[str, str],
         caller: str) -> None:
    now = utcnow()
    session.execute(insert(VerificationLog), [
        {"checked_at": now, "data_agreement_id": agreement_id, "data_agreement_revision_id": revision_id,
         "individual_ref": a["individualId"][:255], "individual_id": resolved.get(a["individualId"]),
         "consent_record_id": a["consentRecordId"], "consent": a["consent"], "caller": caller}
        for a in answers
    ])


