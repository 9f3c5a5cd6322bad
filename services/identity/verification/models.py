from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class VerificationRecord(Base):
    """What was asked and answered; the values asked about are not stored."""

    __tablename__ = "idn_verification"
    __table_args__ = (UniqueConstraint("caller", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str] = mapped_column(String(256))
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    predicates: Mapped[list] = mapped_column(JSON)  # predicate names only
    response: Mapped[dict] = mapped_column(JSON)  # booleans only, replayed on retry
    verified: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VerificationQuestion(Base):
    """Every predicate a relying party asked about a person: the administrator's audit trail and the count
    behind the per-person quota. The value asked about is kept only as a keyed hash (to count distinct
    questions), the answer not at all."""

    __tablename__ = "idn_verification_question"
    __table_args__ = (Index("ix_idn_verification_question_quota", "caller", "identity_id", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller: Mapped[str] = mapped_column(String(256))
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    request_id: Mapped[str] = mapped_column(String(128))
    predicate: Mapped[str] = mapped_column(String(32))
    question_hash: Mapped[str] = mapped_column(String(64))
    refused: Mapped[bool] = mapped_column(Boolean, default=False)  # over the quota: asked, not answered
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
