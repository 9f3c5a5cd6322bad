from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base


class VerificationLog(Base):
    """One row per consent check a data consumer made (spec scenario side effect: auditable)."""

    __tablename__ = "consent_verification_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    data_agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    data_agreement_revision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    individual_ref: Mapped[str] = mapped_column(String(255), index=True)
    individual_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean)
    caller: Mapped[str] = mapped_column(String(255))
