from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class Policy(Base):
    __tablename__ = "consent_policy"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str | None] = mapped_column(String(255), nullable=True)
    industry_sector: Mapped[str | None] = mapped_column(String(255), nullable=True)
    data_retention_period_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    geographic_restriction: Mapped[str | None] = mapped_column(String(255), nullable=True)
    storage_location: Mapped[str | None] = mapped_column(String(255), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The member (INSTANCE/CLASS/MEMBER) that may change or delete it; None: only the operator. Not revisioned.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
