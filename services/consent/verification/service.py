"""Consent verification for data consumers: does valid consent exist now, for one or many individuals?

Valid consent = the individual's latest record for the agreement (for the given agreement revision when one
is asked for) says `optIn: true`, the agreement is not deleted, and, if the caller requires it, the record's
current revision is signed. Whatever the number of individuals, one SQL statement (plain DBAPI, no ORM on
this hot path) reads the agreement, resolves the individuals and fetches their records (index on agreement,
individual, time); the checks are handed to the verification log writer, which bulk-inserts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.consent.agreements.models import DataAgreement
from services.consent.agreements.service import require_verifier
from services.consent.errors import bad_request, not_found
from services.consent.records.models import SIGNED, ConsentRecord
from services.consent.revisions import service as revisions
from services.consent.schemas import present
from services.consent.verification.models import VerificationLog

MAX_INDIVIDUALS = 1000
LogSink = Callable[[list[dict]], None]

if TYPE_CHECKING:
    from services.consent.access import Principal


def verify(
    connection: Connection,
    agreement_id: str,
    refs: list[str],
    caller: str,
    *,
    revision_id: str | None = None,
    require_signed: bool = False,
    sink: LogSink | None = None,
    who: Principal | None = None,
) -> tuple[list[dict], list[dict[str, Any]]]:
    """Answer for each reference; `who` (None: the service itself) must control the agreement or be one of its
    data consumers."""
    refs = clean_refs(refs)
    if revision_id and not _is_agreement_revision(connection, agreement_id, revision_id):
        raise not_found("revision of this data agreement", revision_id)
    sql, params = lookup_statement(_placeholder(connection), agreement_id, refs, revision_id)
    check = Check(agreement_id, refs, caller, revision_id, require_signed, who)
    found, answers, log_rows = check.conclude(_fetch(connection, sql, params))
    (sink or direct_sink(connection))(log_rows)
    return found, answers


def clean_refs(refs: list[str]) -> list[str]:
    """The references without blanks and repeats, in order; 400 if none or too many."""
    refs = list(dict.fromkeys(r.strip() for r in refs if r and r.strip()))
    if not refs:
        raise bad_request("at least one individualId is required")
    if len(refs) > MAX_INDIVIDUALS:
        raise bad_request(f"at most {MAX_INDIVIDUALS} individuals per request")
    return refs


@dataclass(frozen=True)
class Check:
    """One verification request, answered from the rows of `lookup_statement` whichever driver fetched them."""

    agreement_id: str
    refs: list[str]
    caller: str
    revision_id: str | None = None
    require_signed: bool = False
    who: Principal | None = None

    def conclude(self, rows: list[tuple]) -> tuple[list[dict], list[dict[str, Any]], list[dict]]:
        """The records found, the answer per reference, and the verification log's rows."""
        agreement, resolved, latest = _read_lookup(rows, self.agreement_id, self.refs)
        if agreement is None:
            raise not_found("data agreement", self.agreement_id)
        deleted, controller_id, consumers = agreement
        if self.who is not None:
            require_verifier(self.who, controller_id, consumers)
        answers = [self._answer(ref, latest.get(resolved.get(ref, "")), deleted) for ref in self.refs]
        found = [latest[i] for i in dict.fromkeys(resolved[r] for r in self.refs if r in resolved) if i in latest]
        return found, answers, self._log_rows(answers, resolved)

    def _answer(self, ref: str, record: dict | None, deleted: bool) -> dict[str, Any]:
        counts = record is not None and (record["state"] == SIGNED or not self.require_signed)
        return {
            "individualId": ref,
            "dataAgreementId": self.agreement_id,
            "consent": bool(counts and record["optIn"] and not deleted),
            "consentRecordId": record["id"] if record else None,
            "dataAgreementRevisionId": record.get("dataAgreementRevision") if record else None,
            "optIn": record["optIn"] if record else None,
            "state": record["state"] if record else None,
        }

    def _log_rows(self, answers: list[dict[str, Any]], resolved: dict[str, str]) -> list[dict]:
        now = utcnow()
        return [
            {
                "checked_at": now,
                "data_agreement_id": self.agreement_id,
                "data_agreement_revision_id": self.revision_id,
                "individual_ref": a["individualId"][:255],
                "individual_id": resolved.get(a["individualId"]),
                "consent_record_id": a["consentRecordId"],
                "consent": a["consent"],
                "caller": self.caller,
            }
            for a in answers
        ]


def log_record_read(record: ConsentRecord, caller: str, sink: LogSink) -> None:
    sink(
        [
            {
                "checked_at": utcnow(),
                "data_agreement_id": record.data_agreement_id,
                "data_agreement_revision_id": record.data_agreement_revision_id,
                "individual_ref": record.individual_id,
                "individual_id": record.individual_id,
                "consent_record_id": record.id,
                "consent": record.opt_in,
                "caller": caller,
            }
        ]
    )


def history(
    session: Session,
    offset: int,
    limit: int,
    agreement_id: str | None = None,
    individual_ref: str | None = None,
    controller: str | None = None,
) -> list[dict[str, Any]]:
    """The verification log, newest first; with `controller`, only checks of that member's agreements."""
    query = select(VerificationLog)
    if controller is not None:
        own = select(DataAgreement.id).where(DataAgreement.controller_id == controller)
        query = query.where(VerificationLog.data_agreement_id.in_(own))
    if agreement_id:
        query = query.where(VerificationLog.data_agreement_id == agreement_id)
    if individual_ref:
        query = query.where(
            (VerificationLog.individual_ref == individual_ref) | (VerificationLog.individual_id == individual_ref)
        )
    rows = session.scalars(query.order_by(VerificationLog.id.desc()).offset(offset).limit(limit))
    return [
        {
            "id": str(r.id),
            "timestamp": iso(r.checked_at),
            "dataAgreementId": r.data_agreement_id,
            "dataAgreementRevisionId": r.data_agreement_revision_id,
            "individualId": r.individual_ref,
            "resolvedIndividualId": r.individual_id,
            "consentRecordId": r.consent_record_id,
            "consent": r.consent,
            "caller": r.caller,
        }
        for r in rows
    ]


def _placeholder(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _is_agreement_revision(connection: Connection, agreement_id: str, revision_id: str) -> bool:
    p = _placeholder(connection)
    return (
        connection.exec_driver_sql(
            f"SELECT 1 FROM consent_revision WHERE id = {p} AND schema_name = {p} AND object_id = {p}",
            (revision_id, revisions.DATA_AGREEMENT, agreement_id),
        ).first()
        is not None
    )


def lookup_statement(
    placeholder: str, agreement_id: str, refs: list[str], revision_id: str | None
) -> tuple[str, tuple]:
    """One statement (one round trip) for the hot path: the agreement's `deleted` flag, controller and data
    consumers, every reference (id or externalId) resolved, and each individual's records for the agreement,
    newest first (`_read_lookup` reads its rows)."""
    p = placeholder
    marks = ", ".join([p] * len(refs))
    revision_filter = f" AND r.data_agreement_revision_id = {p}" if revision_id else ""
    sql = (
        "SELECT a.deleted, a.controller_id, a.data_consumers, i.id, i.external_id, r.id, r.data_agreement_revision_id, "
        "r.data_agreement_revision_hash, r.opt_in, r.state, r.signature_id "
        "FROM consent_data_agreement a "
        f"LEFT JOIN consent_individual i ON (i.id IN ({marks}) OR i.external_id IN ({marks})) "
        f"LEFT JOIN consent_record r ON r.individual_id = i.id AND r.data_agreement_id = a.id{revision_filter} "
        f"WHERE a.id = {p} "
        "ORDER BY r.created_at DESC, r.id DESC"
    )
    return sql, (*refs, *refs, *((revision_id,) if revision_id else ()), agreement_id)


def _read_lookup(
    rows: list[tuple], agreement_id: str, refs: list[str]
) -> tuple[tuple[bool, str | None, list[str]] | None, dict[str, str], dict[str, dict]]:
    """((deleted, controller id, consumers), or None if the agreement does not exist; reference -> individual
    id; individual id -> latest record in API shape). An externalId shared by several individuals resolves to
    none of them."""
    agreement: tuple[bool, str | None, list[str]] | None = None
    by_external: dict[str, str | None] = {}
    ids: set[str] = set()
    latest: dict[str, dict] = {}
    for (
        agreement_deleted,
        controller_id,
        consumers,
        individual_id,
        external_id,
        record_id,
        revision,
        revision_hash,
        opt_in,
        state,
        signature_id,
    ) in rows:
        if agreement is None:
            agreement = (bool(agreement_deleted), controller_id, _json_list(consumers))
        if individual_id is None:
            continue
        if individual_id not in ids:
            ids.add(individual_id)
            if external_id is not None:
                by_external[external_id] = None if external_id in by_external else individual_id
        if record_id is not None and individual_id not in latest:
            latest[individual_id] = present(
                {
                    "id": record_id,
                    "dataAgreement": agreement_id,
                    "dataAgreementRevision": revision,
                    "dataAgreementRevisionHash": revision_hash,
                    "individual": individual_id,
                    "optIn": bool(opt_in),
                    "state": state,
                    "signature": signature_id,
                }
            )
    resolved = {}
    for ref in refs:
        found = ref if ref in ids else by_external.get(ref)
        if found:
            resolved[ref] = found
    return agreement, resolved, latest


def _fetch(connection: Connection, sql: str, params: tuple) -> list[tuple]:
    """The rows through the driver's own cursor: SQLAlchemy's result wrapping cost more CPU than the lookup."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _json_list(value: Any) -> list[str]:
    """A JSON column read through the driver: text on SQLite, already decoded on PostgreSQL."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, list) else []


def direct_sink(connection: Connection | Session) -> LogSink:
    return lambda rows: connection.execute(insert(VerificationLog), rows)
