"""Account mapper operations: register, update and look up beneficiaries (set-based, so bulk is cheap)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.errors import DomainError

from ..base import bulk_insert, refresh_statistics
from ..fsps.models import FSP, FSPAccount
from ..fsps.service import normalize_address
from ..outbox.service import enqueue
from ..settings import PaymentsSettings
from .models import Beneficiary, MapperRequest

MODALITIES = {"00": "bank account", "01": "mobile money", "02": "voucher", "03": "digital wallet", "04": "proxy"}
NEEDS_ADDRESS = {"00", "01", "03"}


@dataclass
class Entry:
    payee_identity: str
    modality: str | None
    address: str | None
    institution: str | None = None
    status: str | None = None


@dataclass
class Failure:
    payee_identity: str
    modality: str | None
    institution: str | None
    reason: str


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


class ReusedRequestID(DomainError):
    """A request id already used for a different request of this operation and source."""

    def __init__(self, request_id: str):
        super().__init__(f"RequestID {request_id!r} was already used for a different request; send a new RequestID")


def replay(session: Session, operation: str, source: str, request_id: str, request_hash: str | None) -> dict | None:
    """The first answer to this request id, if any; ReusedRequestID if the first request was another one."""
    row = session.scalar(
        select(MapperRequest).where(
            MapperRequest.operation == operation,
            MapperRequest.source_bb_id == source,
            MapperRequest.request_id == request_id,
        )
    )
    if row is None:
        return None
    if row.request_hash and request_hash and row.request_hash != request_hash:
        raise ReusedRequestID(request_id)
    return json.loads(row.response)


def remember(
    session: Session, operation: str, source: str, request_id: str, response: dict, request_hash: str | None
) -> None:
    session.add(
        MapperRequest(
            operation=operation,
            source_bb_id=source,
            request_id=request_id,
            response=json.dumps(response),
            request_hash=request_hash,
        )
    )
    session.flush()


class InstitutionResolver:
    """Finds the FSP holding an address when the caller did not name one (the 1.0 API cannot)."""

    def __init__(self, session: Session):
        import re

        self.session = session
        self.fsps = {
            f.code: (re.compile(f.account_pattern) if f.account_pattern else None) for f in session.scalars(select(FSP))
        }

    def resolve(self, address: str) -> str | None:
        address = normalize_address(address)
        held = self.session.scalar(select(FSPAccount.fsp_code).where(FSPAccount.financial_address == address).limit(1))
        if held:
            return held
        return next((code for code, pattern in self.fsps.items() if pattern and pattern.fullmatch(address)), None)


def _check_entry(entry: Entry, resolver: InstitutionResolver) -> str | None:
    if entry.modality is None or entry.modality not in MODALITIES:
        return "invalid payment modality (expected 00, 01, 02, 03 or 04)"
    if entry.modality in NEEDS_ADDRESS and not entry.address:
        return f"financial address is required for {MODALITIES[entry.modality]}"
    if entry.modality in NEEDS_ADDRESS and entry.institution is None:
        entry.institution = resolver.resolve(entry.address or "")
        if entry.institution is None:
            return "financial address is not held at any connected FSP (give bankingInstitutionCode)"
    if entry.institution is not None and entry.institution not in resolver.fsps:
        return "unknown banking institution code"
    return None


def _existing(session: Session, source: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        found.update(
            session.scalars(
                select(Beneficiary.payee_identity).where(
                    Beneficiary.source_bb_id == source, Beneficiary.payee_identity.in_(ids[i : i + 500])
                )
            )
        )
    return found


def register(session: Session, source: str, entries: list[Entry]) -> list[Failure]:
    """Registers new functional ids for `source`; duplicates and invalid entries come back as failures."""
    resolver = InstitutionResolver(session)
    already = _existing(session, source, [e.payee_identity for e in entries])
    failures, rows, seen = [], [], set()
    now = utcnow()
    for e in entries:
        duplicate = e.payee_identity in already or e.payee_identity in seen
        reason = "duplicate: functional id already registered" if duplicate else None
        reason = reason or _check_entry(e, resolver)
        if reason:
            failures.append(Failure(e.payee_identity, e.modality, e.institution, reason))
            continue
        seen.add(e.payee_identity)
        rows.append(
            {
                "source_bb_id": source,
                "payee_identity": e.payee_identity,
                "payment_modality": e.modality,
                "banking_institution_code": e.institution,
                "financial_address": e.address,
                "status": "1",
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        try:
            with session.begin_nested():
                bulk_insert(session, Beneficiary.__table__, rows)
        except IntegrityError:  # a concurrent request registered some of these ids since we looked
            rows = _insert_each(session, rows, failures)
        refresh_statistics(session, Beneficiary.__tablename__, len(rows))
    return failures


def _insert_each(session: Session, rows: list[dict], failures: list[Failure]) -> list[dict]:
    """Inserts rows one by one; those that lost a race become duplicate failures. Returns the inserted."""
    inserted = []
    for row in rows:
        try:
            with session.begin_nested():
                session.execute(Beneficiary.__table__.insert(), row)
            inserted.append(row)
        except IntegrityError:
            failures.append(
                Failure(
                    row["payee_identity"],
                    row["payment_modality"],
                    row["banking_institution_code"],
                    "duplicate: functional id already registered",
                )
            )
    return inserted


def update_beneficiaries(session: Session, source: str, entries: list[Entry]) -> list[Failure]:
    """Changes modality, institution, address or status of registered ids; the functional id never changes."""
    resolver = InstitutionResolver(session)
    failures = []
    for e in entries:
        current = session.scalar(
            select(Beneficiary).where(
                Beneficiary.source_bb_id == source, Beneficiary.payee_identity == e.payee_identity
            )
        )
        if current is None:
            failures.append(Failure(e.payee_identity, e.modality, e.institution, "functional id is not registered"))
            continue
        merged = Entry(
            e.payee_identity,
            e.modality or current.payment_modality,
            e.address if e.address is not None else current.financial_address,
            e.institution
            if e.institution is not None
            else (None if e.address is not None else current.banking_institution_code),
        )
        reason = _check_entry(merged, resolver)
        if reason:
            failures.append(Failure(e.payee_identity, merged.modality, merged.institution, reason))
            continue
        session.execute(
            update(Beneficiary)
            .where(Beneficiary.id == current.id)
            .values(
                payment_modality=merged.modality,
                financial_address=merged.address,
                banking_institution_code=merged.institution,
                status=e.status or current.status,
                updated_at=utcnow(),
            )
        )
    return failures


def lookup(session: Session, source: str | None, ids: Iterable[str]) -> list[Beneficiary]:
    ids = list(dict.fromkeys(ids))
    out: list[Beneficiary] = []
    for i in range(0, len(ids), 500):
        stmt = select(Beneficiary).where(Beneficiary.payee_identity.in_(ids[i : i + 500]), Beneficiary.status == "1")
        if source:
            stmt = stmt.where(Beneficiary.source_bb_id == source)
        out.extend(session.scalars(stmt.order_by(Beneficiary.id)))
    return out


def modality_view(b: Beneficiary) -> dict:
    return {
        "payeeIdentity": b.payee_identity,
        "paymentModality": b.payment_modality,
        "financialAddress": b.financial_address,
        "bankingInstitutionCode": b.banking_institution_code,
    }


def outcome_callback(register_request_id: str, failures: list[Failure], id_key: str) -> dict:
    """RegisterBeneficiaryResponse.yml / UpdateBeneficiaryResponse.yml callback body."""
    cases = []
    for f in failures:
        case = {id_key: f.payee_identity, "paymentModality": f.modality, "failureReason": f.reason[:100]}
        if f.institution:
            case["bankingInstitutionCode"] = f.institution
        cases.append(case)
    return {
        "requestID": new_request_id(),
        "registerRequestID": register_request_id,
        "numberFailedCases": len(failures),
        "failedCases": cases,
    }


def run_once(
    session: Session,
    settings: PaymentsSettings,
    *,
    operation: str,
    source: str,
    request_id: str,
    callback_url: str | None,
    work: Callable[[], list[Failure]],
    ack: dict,
    id_key: str,
    request_hash: str | None = None,
) -> dict:
    """Runs a mapper request once per (operation, source, request id) and queues its outcome callback; a
    request id reused for another request (`request_hash` differs) is ReusedRequestID."""
    first = replay(session, operation, source, request_id, request_hash)
    if first is not None:
        return first
    failures = work()
    if callback_url:
        enqueue(session, settings, f"mapper.{operation}", callback_url, outcome_callback(request_id, failures, id_key))
    try:
        with session.begin_nested():
            remember(session, operation, source, request_id, ack, request_hash)
    except IntegrityError:  # a concurrent retry won the race; its answer is the first answer
        session.rollback()
        return replay(session, operation, source, request_id, request_hash) or ack
    return ack
