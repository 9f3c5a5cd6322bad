"""G2P programmes, batches and credit instructions; the batch state drives the background settlement."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime

from ..base import Base, Money


class Programme(Base):
    """A government programme paying out of its own funding accounts (one ledger account per currency)."""

    __tablename__ = "programmes"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)  # X-Program-Id
    name: Mapped[str] = mapped_column(String(200))
    # Source BBs / registering institutions whose batches default to this programme.
    source_bb_ids: Mapped[str] = mapped_column(String(400), default="")
    is_default: Mapped[bool] = mapped_column(default=False)
    # The IM client id (INSTANCE/CLASS/MEMBER/APPLICATION) of the only application that may spend the fund.
    owner_client: Mapped[str | None] = mapped_column(String(200), nullable=True)


# Batch status: received -> processing -> completed (or failed: nothing payable / not funded).
class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("api", "source_bb_id", "request_id"),)

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    api: Mapped[str] = mapped_column(String(4))  # v1 | v3
    request_id: Mapped[str] = mapped_column(String(40))  # RequestID / X-CorrelationID
    client_batch_id: Mapped[str | None] = mapped_column(String(50), nullable=True)  # 1.0 BatchID
    source_bb_id: Mapped[str] = mapped_column(String(20), default="")
    tenant: Mapped[str | None] = mapped_column(String(20), nullable=True)
    programme_code: Mapped[str] = mapped_column(ForeignKey("programmes.code"))
    callback_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="received")
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ack: Mapped[str | None] = mapped_column(Text, nullable=True)  # first answer, replayed on retry
    # SHA-256 of what the first request asked (body and programme): a retry must ask the same.
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Instruction(Base):
    __tablename__ = "instructions"
    __table_args__ = (
        Index("ix_instructions_batch_status", "batch_id", "status", "id"),
        Index("ix_instructions_source_instr", "source_bb_id", "instruction_id"),
        Index("ix_instructions_batch_payee", "batch_id", "payee_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    seq: Mapped[int] = mapped_column(Integer)
    source_bb_id: Mapped[str] = mapped_column(String(20), default="")
    instruction_id: Mapped[str] = mapped_column(String(40))
    payee_identity: Mapped[str | None] = mapped_column(String(40), nullable=True)
    payee_id_type: Mapped[str | None] = mapped_column(String(30), nullable=True)
    payer_identity: Mapped[str | None] = mapped_column(String(40), nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    narration: Mapped[str | None] = mapped_column(String(50), nullable=True)
    payment_mode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    payee_fsp: Mapped[str | None] = mapped_column(String(11), nullable=True)
    payee_address: Mapped[str | None] = mapped_column(String(30), nullable=True)
    modality: Mapped[str | None] = mapped_column(String(2), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | completed | failed
    failure_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    entry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PrepaymentValidation(Base):
    __tablename__ = "prepayment_validations"
    __table_args__ = (UniqueConstraint("source_bb_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(40))
    source_bb_id: Mapped[str] = mapped_column(String(20), default="")
    batch_id: Mapped[str] = mapped_column(String(50), index=True)
    result: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
