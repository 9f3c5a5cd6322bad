"""Pre-payment validation (spec 9.1.2): the batch is checked against the mapper, the payee FSPs and the
programme's funding, synchronously, without moving money; the result is kept for the response call."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts import funding_account
from ..authorization import check_owner
from ..fsps.service import load_directory
from ..mapper.service import lookup
from .models import PrepaymentValidation
from .processing import NO_FUNDING_ACCOUNT, NOT_CREDITABLE, NOT_FUNDED, NOT_REGISTERED
from .schemas import V1BulkPaymentRequest
from .service import (
    BatchRejected,
    NewInstruction,
    check_same_request,
    check_unique_instruction_ids,
    choose_programme,
)


def find(session: Session, source: str | None, batch_id: str, request_id: str | None) -> PrepaymentValidation | None:
    stmt = select(PrepaymentValidation).where(PrepaymentValidation.batch_id == batch_id)
    if source:
        stmt = stmt.where(PrepaymentValidation.source_bb_id == source)
    if request_id:
        stmt = stmt.where(PrepaymentValidation.request_id == request_id)
    return session.scalars(stmt.order_by(PrepaymentValidation.id.desc()).limit(1)).first()


def validate(session: Session, body: V1BulkPaymentRequest, program_id: str | None, caller: str | None) -> dict:
    """`caller` (the verified client id) must own the programme whose funding is checked (NotAllowed)."""
    programme = choose_programme(session, program_id, body.SourceBBID)
    check_owner(programme, caller)
    request_hash = body.fingerprint(program_id)
    first = _replay(session, body, request_hash)
    if first is not None:
        return first
    check_unique_instruction_ids(
        [NewInstruction(i.InstructionID, i.Amount, i.Currency, None) for i in body.CreditInstructions]
    )
    mapped = {
        b.payee_identity: b
        for b in lookup(session, body.SourceBBID, [i.PayeeFunctionalID for i in body.CreditInstructions])
    }
    directory = load_directory(session, [(b.banking_institution_code, b.financial_address) for b in mapped.values()])
    failed, totals = [], defaultdict(Decimal)
    for i in body.CreditInstructions:
        b = mapped.get(i.PayeeFunctionalID)
        if b is None:
            reason = NOT_REGISTERED
        elif b.financial_address is None:
            reason = NOT_CREDITABLE
        else:
            reason = directory.credit_refusal(b.banking_institution_code, b.financial_address)
        if reason:
            failed.append(
                {"InstructionID": i.InstructionID, "PayeeFunctionalID": i.PayeeFunctionalID, "FailureReason": reason}
            )
        else:
            totals[i.Currency] += i.Amount
    notes = []
    for currency, total in totals.items():
        account = funding_account(session, programme.code, currency)
        if account is None:
            notes.append(f"{NO_FUNDING_ACCOUNT} ({currency})")
        elif account.balance < total:
            notes.append(f"{NOT_FUNDED} ({currency})")
    result = {
        "ResponseCode": "00",
        "ResponseDescription": (
            f"{len(failed)} of {len(body.CreditInstructions)} instructions failed validation"
            + ("; " + "; ".join(notes) if notes else "")
        )[:200],
        "RequestID": body.RequestID,
        "BatchID": body.BatchID,
        "NumberFailedCases": len(failed),
        "FailedCases": failed,
    }
    try:
        with session.begin_nested():
            session.add(
                PrepaymentValidation(
                    request_id=body.RequestID,
                    source_bb_id=body.SourceBBID,
                    batch_id=body.BatchID,
                    result=json.dumps(result),
                    request_hash=request_hash,
                )
            )
            session.flush()
    except IntegrityError:  # a concurrent retry stored its result first: that is the first answer
        return _replay(session, body, request_hash) or result
    return result


def _replay(session: Session, body: V1BulkPaymentRequest, request_hash: str) -> dict | None:
    """The first result for this (SourceBBID, RequestID), if any; ReusedRequestID if it was another request."""
    first = session.scalar(
        select(PrepaymentValidation).where(
            PrepaymentValidation.source_bb_id == body.SourceBBID, PrepaymentValidation.request_id == body.RequestID
        )
    )
    if first is None:
        return None
    check_same_request(first.request_hash, request_hash, "RequestID", body.RequestID)
    return json.loads(first.result)


__all__ = ["BatchRejected", "find", "validate"]
