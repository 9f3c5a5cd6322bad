from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class Enrollment(Base):
    """An enrollment packet, possibly built over several PUTs, finalized into an identity."""

    __tablename__ = "idn_enrollment"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ref_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    process: Mapped[str] = mapped_column(String(32), default="NEW")
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / finalized
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # first answer, replayed on retry
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    caller: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
