"""Accepting G2P batches (idempotent by request id) and reading their state back."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.common.errors import DomainError

from ..authorization import check_owner
from ..base import bulk_insert, plain, refresh_statistics
from .models import Batch, Instruction, Programme
from .schemas import V3Transaction

# creditParty keys naming a functional id (resolved through the account mapper) ...
FUNCTIONAL_ID_KEYS = {"functionalid", "payeeidentity", "payeefunctionalid", "uin", "nationalid", "foundationalid"}
# ... and keys giving the payee's account directly (together with an institution key).
ADDRESS_KEYS = {"msisdn", "accountnumber", "financialaddress", "iban", "walletid"}
INSTITUTION_KEYS = {"bankinginstitutioncode", "payeedfspid", "fspid", "bic"}


class BatchRejected(DomainError):
    """The whole batch is refused (nothing stored): 400 in the shape of the route called."""


class ReusedRequestID(BatchRejected):
    """A request id already used for a different request (a retry must repeat the request exactly)."""

    def __init__(self, name: str, request_id: str):
        super().__init__(f"{name} {request_id!r} was already used for a different request; send a new {name}")


def check_same_request(first_hash: str | None, request_hash: str | None, name: str, request_id: str) -> None:
    """Raises ReusedRequestID unless a replayed request asks what the first asked (unknown hashes pass)."""
    if first_hash and request_hash and first_hash != request_hash:
        raise ReusedRequestID(name, request_id)


@dataclass
class NewInstruction:
    instruction_id: str
    amount: Decimal
    currency: str
    payee_identity: str | None
    payee_id_type: str | None = None
    payee_fsp: str | None = None
    payee_address: str | None = None
    payer_identity: str | None = None
    narration: str | None = None
    payment_mode: str | None = None


def find_batch(session: Session, api: str, source: str, request_id: str) -> Batch | None:
    return session.scalar(
        select(Batch).where(Batch.api == api, Batch.source_bb_id == source, Batch.request_id == request_id)
    )


def choose_programme(session: Session, program_id: str | None, source: str) -> Programme:
    if program_id:
        programme = session.get(Programme, program_id)
        if programme is None:
            raise BatchRejected(f"unknown programme {program_id!r} (X-Program-Id)")
        return programme
    programmes = session.scalars(select(Programme).order_by(Programme.code)).all()
    for p in programmes:
        if source and source in p.source_bb_ids.split(","):
            return p
    default = next((p for p in programmes if p.is_default), None)
    if default is None:
        raise BatchRejected("no programme configured for this source")
    return default


def check_unique_instruction_ids(instructions: list[NewInstruction]) -> None:
    seen: set[str] = set()
    for i in instructions:
        if i.instruction_id in seen:
            raise BatchRejected(f"duplicate payment: instruction id {i.instruction_id!r} appears twice in the batch")
        seen.add(i.instruction_id)


def submit(
    session: Session,
    *,
    api: str,
    request_id: str,
    source: str,
    instructions: list[NewInstruction],
    ack: dict,
    client_batch_id: str | None = None,
    program_id: str | None = None,
    tenant: str | None = None,
    callback_url: str | None = None,
    caller: str | None = None,
    request_hash: str | None = None,
    request_id_name: str = "RequestID",
) -> tuple[Batch, dict]:
    """Stores a batch for background processing; a retried request id returns the first batch and answer,
    a request id reused for another request (`request_hash` differs) is ReusedRequestID.

    `caller` (the verified client id) must own the programme (NotAllowed), also for a retry."""
    programme = choose_programme(session, program_id, source)
    check_owner(programme, caller)
    first = find_batch(session, api, source, request_id)
    if first is not None:
        check_same_request(first.request_hash, request_hash, request_id_name, request_id)
        return first, json.loads(first.ack)
    check_unique_instruction_ids(instructions)
    if client_batch_id and session.scalar(
        select(Batch.id).where(Batch.source_bb_id == source, Batch.client_batch_id == client_batch_id)
    ):
        raise BatchRejected(f"duplicate payment: BatchID {client_batch_id!r} was already submitted")
    batch_id = str(uuid.uuid4())
    ack = {k: (batch_id if v == "{batchId}" else v) for k, v in ack.items()}
    batch = Batch(
        id=batch_id,
        api=api,
        request_id=request_id,
        client_batch_id=client_batch_id,
        source_bb_id=source,
        tenant=tenant,
        programme_code=programme.code,
        callback_url=callback_url,
        status="received",
        total_count=len(instructions),
        total_amount=sum((i.amount for i in instructions), Decimal(0)),
        created_at=utcnow(),
        ack=json.dumps(ack),
        request_hash=request_hash,
    )
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError:  # a concurrent retry with the same request id stored it first
        session.rollback()
        first = find_batch(session, api, source, request_id)
        if first is None:
            raise
        check_same_request(first.request_hash, request_hash, request_id_name, request_id)
        return first, json.loads(first.ack)
    for start in range(0, len(instructions), 10000):  # rows built per chunk: memory stays flat
        bulk_insert(
            session,
            Instruction.__table__,
            [
                {
                    "batch_id": batch_id,
                    "seq": n,
                    "source_bb_id": source,
                    "instruction_id": i.instruction_id,
                    "payee_identity": i.payee_identity,
                    "payee_id_type": i.payee_id_type,
                    "payer_identity": i.payer_identity,
                    "amount": i.amount,
                    "currency": i.currency,
                    "narration": i.narration,
                    "payment_mode": i.payment_mode,
                    "payee_fsp": i.payee_fsp,
                    "payee_address": i.payee_address,
                    "status": "pending",
                }
                for n, i in enumerate(instructions[start : start + 10000], start)
            ],
        )
    refresh_statistics(session, Instruction.__tablename__, len(instructions))
    return batch, ack


def v3_instruction(tx: V3Transaction) -> NewInstruction:
    parties = {p.key.lower().replace("_", "").replace("-", ""): p.value for p in tx.creditParty}
    payee_id = next((parties[k] for k in parties if k in FUNCTIONAL_ID_KEYS), None)
    key = next((p.key for p in tx.creditParty), None)
    address = next((parties[k] for k in parties if k in ADDRESS_KEYS), None)
    institution = next((parties[k] for k in parties if k in INSTITUTION_KEYS), None)
    direct = payee_id is None and address is not None and institution is not None
    return NewInstruction(
        instruction_id=tx.requestId,
        amount=tx.amount,
        currency=tx.currency,
        payee_identity=(payee_id or address or next(iter(parties.values())))[:40],
        payee_id_type=key,
        payee_fsp=institution if direct else None,
        payee_address=address if direct else None,
        payer_identity=next((p.value for p in tx.debitParty), None),
        narration=tx.descriptionText,
        payment_mode=tx.paymentMode,
    )


def summary(session: Session, batch: Batch) -> dict:
    """The BulkPaymentStatusUpdate body: counts and amounts per state, computed from the instructions."""
    rows = session.execute(
        select(Instruction.status, func.count(), func.sum(Instruction.amount))
        .where(Instruction.batch_id == batch.id)
        .group_by(Instruction.status)
    ).all()
    by = {r[0]: (r[1], r[2] or Decimal(0)) for r in rows}
    count = lambda s: by.get(s, (0, Decimal(0)))[0]  # noqa: E731
    amount = lambda s: by.get(s, (0, Decimal(0)))[1]  # noqa: E731
    currencies = session.scalars(
        select(Instruction.currency).where(Instruction.batch_id == batch.id).distinct().limit(2)
    ).all()
    done = batch.status in ("completed", "failed")
    return {
        "requestId": batch.request_id,
        "batchId": batch.id,
        "TotalTransactions": batch.total_count,
        "ongoing": count("pending"),
        "failed": count("failed"),
        "completed": count("completed"),
        "totalAmount": plain(batch.total_amount),
        "completed_amount": plain(amount("completed")),
        "ongoing_amount": plain(amount("pending")),
        "failed_amount": plain(amount("failed")),
        "result_file": None,
        "resultGeneratedAt": iso(batch.completed_at if done else utcnow()),
        "note": batch.note or ("Batch settled" if done else "Batch is being processed"),
        "currency": currencies[0] if len(currencies) == 1 else None,
        "status": batch.status.upper(),
        "clientBatchId": batch.client_batch_id,
    }


STATUS_NAMES = {"pending": "IN_PROGRESS", "completed": "COMPLETED", "failed": "FAILED"}
STATUS_FILTER = {v: k for k, v in STATUS_NAMES.items()} | {"SUCCESS": "completed", "ONGOING": "pending"}


def details(session: Session, batch: Batch, page_no: int, page_size: int, status: str | None) -> list[dict]:
    stmt = select(Instruction).where(Instruction.batch_id == batch.id)
    if status:
        stmt = stmt.where(Instruction.status == status)
    rows = session.scalars(stmt.order_by(Instruction.seq).offset(page_no * page_size).limit(page_size))
    return [detail_view(batch, i) for i in rows]


def detail_view(batch: Batch, i: Instruction) -> dict:
    return {
        "workflowInstanceKey": str(i.id),
        "transactionId": i.instruction_id,
        "startedAt": iso(batch.created_at),
        "completedAt": iso(i.completed_at),
        "status": STATUS_NAMES[i.status],
        "statusDetail": i.failure_reason or ("credited" if i.status == "completed" else None),
        "payeeDfspId": i.payee_fsp,
        "payeePartyId": i.payee_identity,
        "payeePartyIdType": i.payee_id_type or "FUNCTIONAL_ID",
        "payeeFee": 0,
        "payeeFeeCurrency": i.currency,
        "payerDfspId": "TREASURY",
        "payerPartyId": i.payer_identity or batch.programme_code,
        "payerPartyIdType": "PROGRAMME",
        "payerFee": 0,
        "payerFeeCurrency": i.currency,
        "amount": plain(i.amount),
        "currency": i.currency,
        "direction": "OUTGOING",
        "errorInformation": i.failure_reason if i.status == "failed" else None,
        "batchId": batch.id,
    }
