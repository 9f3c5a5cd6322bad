"""The account mapper: functional id -> payment modality, institution and financial address, per source BB."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime

from ..base import Base


class Beneficiary(Base):
    __tablename__ = "beneficiaries"
    __table_args__ = (
        UniqueConstraint("source_bb_id", "payee_identity"),
        Index("ix_beneficiaries_payee", "payee_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_bb_id: Mapped[str] = mapped_column(String(20))
    payee_identity: Mapped[str] = mapped_column(String(20))
    payment_modality: Mapped[str | None] = mapped_column(String(2), nullable=True)
    banking_institution_code: Mapped[str | None] = mapped_column(String(11), nullable=True)
    financial_address: Mapped[str | None] = mapped_column(String(30), nullable=True)
    status: Mapped[str] = mapped_column(String(1), default="1")  # '1' active, '0' inactive
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MapperRequest(Base):
    """Each register/update request once: a retried request id gets the first answer back."""

    __tablename__ = "mapper_requests"
    __table_args__ = (UniqueConstraint("operation", "source_bb_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation: Mapped[str] = mapped_column(String(20))
    source_bb_id: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str] = mapped_column(String(40))
    response: Mapped[str] = mapped_column(Text)
    # SHA-256 of the first request's body: a retry must send the same body.
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
