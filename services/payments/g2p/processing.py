"""The G2P workflow of spec 9.1, driven purely by database state so it resumes after a restart:

1. validate (one transaction): reject duplicate payments, resolve every payee in the account mapper,
   fail unknown payees and unsupported currencies, check the programme's funding accounts cover the rest;
2. settle in chunks (one transaction each): the payee FSP accepts or refuses each credit, accepted ones
   become balanced journal entries (funding account debited, payee FSP settlement account credited)
   and the instructions are marked completed in that same transaction;
3. finish: summary computed, batch completed and its status callback queued, in one transaction.

An instruction's journal entry id is `g2p-<instruction pk>` (a primary key), so even a replayed chunk
cannot pay an instruction twice.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import String, and_, cast, exists, func, literal, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.expression import ColumnElement, ScalarSelect

from services.common.clock import utcnow
from services.common.database import Database

from ..accounts import fsp_settlement_account, funding_account
from ..fsps.service import load_directory_for
from ..ledger.service import InsufficientFunds, Leg, post_entries
from ..mapper.models import Beneficiary
from ..outbox.service import enqueue
from ..settings import PaymentsSettings
from .models import Batch, Instruction
from .service import summary

log = logging.getLogger(__name__)

DUPLICATE_ELSEWHERE = "duplicate payment: instruction id already submitted in another batch"
DUPLICATE_IN_BATCH = "duplicate payment: same payee, amount and currency earlier in this batch"
NOT_REGISTERED = "payee functional id is not registered in the account mapper"
NOT_CREDITABLE = "payee's payment modality cannot receive a credit transfer"
NO_FUNDING_ACCOUNT = "programme has no funding account in this currency"
NOT_FUNDED = "insufficient funds in the programme funding account"


def _fail_where(session: Session, batch_id: str, reason: str, *conditions: ColumnElement[bool]) -> int:
    stmt = (
        update(Instruction)
        .where(Instruction.batch_id == batch_id, Instruction.status == "pending", *conditions)
        .values(status="failed", failure_reason=reason, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount


def reject_duplicates(session: Session, batch: Batch) -> None:
    other = aliased(Instruction)
    _fail_where(
        session,
        batch.id,
        DUPLICATE_ELSEWHERE,
        exists().where(
            other.source_bb_id == Instruction.source_bb_id,
            other.instruction_id == Instruction.instruction_id,
            other.batch_id != batch.id,
            other.status != "failed",
        ),
    )
    earlier = aliased(Instruction)
    _fail_where(
        session,
        batch.id,
        DUPLICATE_IN_BATCH,
        exists().where(
            earlier.batch_id == batch.id,
            earlier.payee_identity == Instruction.payee_identity,
            earlier.amount == Instruction.amount,
            earlier.currency == Instruction.currency,
            earlier.seq < Instruction.seq,
        ),
    )


def resolve_payees(session: Session, batch: Batch) -> None:
    """Copies each payee's modality, institution and address from the mapper (of the batch's source BB)."""
    pending = (Instruction.batch_id == batch.id, Instruction.status == "pending", Instruction.payee_fsp.is_(None))
    if batch.source_bb_id:
        # (source, functional id) is unique in the mapper: a join (UPDATE ... FROM) is exact and fast.
        session.execute(
            update(Instruction)
            .where(
                *pending,
                Beneficiary.source_bb_id == batch.source_bb_id,
                Beneficiary.payee_identity == Instruction.payee_identity,
                Beneficiary.status == "1",
            )
            .values(
                payee_fsp=Beneficiary.banking_institution_code,
                payee_address=Beneficiary.financial_address,
                modality=Beneficiary.payment_modality,
            )
            .execution_options(synchronize_session=False)
        )
    else:

        def latest(
            column: InstrumentedAttribute[Any],
        ) -> ScalarSelect[Any]:  # the most recent registration of any source
            return (
                select(column)
                .where(Beneficiary.payee_identity == Instruction.payee_identity, Beneficiary.status == "1")
                .order_by(Beneficiary.id.desc())
                .limit(1)
                .scalar_subquery()
            )

        session.execute(
            update(Instruction)
            .where(*pending)
            .values(
                payee_fsp=latest(Beneficiary.banking_institution_code),
                payee_address=latest(Beneficiary.financial_address),
                modality=latest(Beneficiary.payment_modality),
            )
            .execution_options(synchronize_session=False)
        )
    _fail_where(
        session, batch.id, NOT_CREDITABLE, Instruction.modality.in_(["02", "04"]), Instruction.payee_address.is_(None)
    )
    _fail_where(session, batch.id, NOT_REGISTERED, Instruction.payee_fsp.is_(None))


def check_funding(session: Session, batch: Batch) -> None:
    totals = session.execute(
        select(Instruction.currency, func.sum(Instruction.amount))
        .where(Instruction.batch_id == batch.id, Instruction.status == "pending")
        .group_by(Instruction.currency)
    ).all()
    notes = []
    for currency, total in totals:
        account = funding_account(session, batch.programme_code, currency)
        if account is None:
            _fail_where(session, batch.id, NO_FUNDING_ACCOUNT, Instruction.currency == currency)
            notes.append(f"no {currency} funding account")
        elif account.balance < total and not account.allow_negative:
            _fail_where(session, batch.id, NOT_FUNDED, Instruction.currency == currency)
            notes.append(f"{currency} funding {account.balance} < {total} requested")
    if notes:
        batch.note = ("Not funded: " + "; ".join(notes))[:200]


def validate(session: Session, batch: Batch) -> None:
    reject_duplicates(session, batch)
    resolve_payees(session, batch)
    check_funding(session, batch)
    batch.status = "processing"


def settle_chunk(session: Session, batch: Batch, size: int) -> int:
    """Settles the next `size` pending instructions; returns how many were decided (0 when none left)."""
    chunk = (
        select(
            Instruction.id, Instruction.amount, Instruction.currency, Instruction.payee_fsp, Instruction.payee_address
        )
        .where(Instruction.batch_id == batch.id, Instruction.status == "pending")
        .order_by(Instruction.id)
        .limit(size)
    )
    rows = session.execute(chunk).all()
    if not rows:
        return 0
    directory = load_directory_for(session, chunk)
    refused, accepted = [], []
    for r in rows:
        reason = directory.credit_refusal(r.payee_fsp, r.payee_address)
        (refused if reason else accepted).append((r, reason))
    now = utcnow()
    if accepted:
        try:
            with session.begin_nested():
                post_entries(session, _entries(session, batch, [r for r, _ in accepted]))
        except InsufficientFunds:
            refused.extend((r, NOT_FUNDED) for r, _ in accepted)
    if refused:
        session.execute(
            update(Instruction),
            [{"id": r.id, "status": "failed", "failure_reason": reason, "completed_at": now} for r, reason in refused],
        )
    # Everything still pending in this id range was just posted: mark it completed with its entry id.
    session.execute(
        update(Instruction)
        .where(
            Instruction.batch_id == batch.id,
            Instruction.status == "pending",
            and_(Instruction.id >= rows[0].id, Instruction.id <= rows[-1].id),
        )
        .values(status="completed", completed_at=now, entry_id=literal("g2p-") + cast(Instruction.id, String))
        .execution_options(synchronize_session=False)
    )
    return len(rows)


def _entries(session: Session, batch: Batch, rows: list) -> list:
    funding: dict[str, int] = {}
    settlement: dict[tuple[str, str], int] = {}
    out = []
    for r in rows:
        if r.currency not in funding:
            funding[r.currency] = funding_account(session, batch.programme_code, r.currency).id
        key = (r.payee_fsp, r.currency)
        if key not in settlement:
            settlement[key] = fsp_settlement_account(session, r.payee_fsp, r.currency).id
        out.append(
            (
                f"g2p-{r.id}",
                "g2p_credit",
                None,
                [Leg(funding[r.currency], -r.amount, r.currency), Leg(settlement[key], r.amount, r.currency)],
            )
        )
    return out


def status_callback_url(batch: Batch) -> str:
    """The callback URL with BulkPaymentStatusUpdate's `batchId` and `X-CorrelationID` query parameters."""
    parts = urlsplit(batch.callback_url)
    query = urlencode({"batchId": batch.id, "X-CorrelationID": batch.request_id})
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def finish(session: Session, settings: PaymentsSettings, batch: Batch) -> None:
    batch.completed_at = utcnow()
    body = summary(session, batch)
    batch.status = "completed" if body["completed"] else "failed"
    body = summary(session, batch)
    if batch.callback_url:
        enqueue(session, settings, "g2p.batch_status", status_callback_url(batch), body)


def claim_next_batch(session: Session) -> Batch | None:
    """The oldest unfinished batch, locked until this transaction ends. Another replica's worker skips a batch
    locked by one (SKIP LOCKED) and takes the next: each step of a batch is taken once (SQLite has one writer)."""
    return session.scalars(
        select(Batch)
        .where(Batch.status.in_(["received", "processing"]))
        .order_by(Batch.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def process_next(db: Database, settings: PaymentsSettings) -> bool:
    """Advances the oldest unfinished batch by one step (one transaction). False when there is nothing to do."""
    with db.session() as session:
        batch = claim_next_batch(session)
        if batch is None:
            return False
        if batch.status == "received":
            validate(session, batch)
        elif settle_chunk(session, batch, settings.settle_chunk_size) == 0:
            finish(session, settings, batch)
            log.info("batch %s %s", batch.id, batch.status)
    return True
