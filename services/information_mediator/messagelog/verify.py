"""`sandbox im verify-log`: re-computes every chain and reports the first broken, missing or reordered record."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from .chain import GENESIS, record_hash, signature_valid
from .models import ChainHead, LogRecord


@dataclass
class VerifyResult:
    ok: bool
    records: int
    problem: str | None = None


def _field_dict(r: LogRecord) -> dict:
    return {c.key: getattr(r, c.key) for c in LogRecord.__table__.columns}


def verify_chain(session: Session, key: Ed25519PublicKey, chain: str) -> VerifyResult:
    expected_seq, prev, count = 1, GENESIS, 0
    stmt = select(LogRecord).where(LogRecord.chain == chain).order_by(LogRecord.seq).execution_options(yield_per=2000)
    for record in session.scalars(stmt):
        where = f"chain {chain!r} record seq {record.seq} (message id {record.message_id})"
        if record.seq != expected_seq:
            return VerifyResult(False, count, f"{where}: expected seq {expected_seq}; records are missing")
        if record.prev_hash != prev:
            return VerifyResult(False, count, f"{where}: does not follow its predecessor (missing or reordered record)")
        digest = record_hash(_field_dict(record), record.prev_hash, (record.request_body, record.response_body))
        if digest != record.record_hash:
            return VerifyResult(False, count, f"{where}: content does not match its hash (record edited)")
        # The last record of each stored batch carries the IM's signature (a seal over the chain so far).
        if record.signature and not signature_valid(key, record.record_hash, record.signature):
            return VerifyResult(False, count, f"{where}: signature invalid")
        prev, expected_seq, count = record.record_hash, expected_seq + 1, count + 1
    head = session.get(ChainHead, chain)
    if head is None:
        return VerifyResult(count == 0, count, None if count == 0 else f"chain {chain!r} has no signed head")
    if not signature_valid(key, head.record_hash, head.signature):
        return VerifyResult(False, count, f"chain {chain!r}: head signature invalid")
    if head.seq != count or head.record_hash != prev:
        return VerifyResult(
            False,
            count,
            f"chain {chain!r}: last record is seq {count} but the signed head says "
            f"{head.seq}; records were deleted at the end",
        )
    return VerifyResult(True, count)


def verify_all(session: Session, key: Ed25519PublicKey) -> VerifyResult:
    chains = set(session.scalars(select(ChainHead.chain))) | set(session.scalars(select(LogRecord.chain).distinct()))
    total = 0
    for chain in sorted(chains):
        result = verify_chain(session, key, chain)
        total += result.records
        if not result.ok:
            return VerifyResult(False, total, result.problem)
    return VerifyResult(True, total)
