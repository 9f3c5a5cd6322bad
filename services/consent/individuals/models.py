from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class Individual(Base):
    __tablename__ = "consent_individual"
    __table_args__ = (Index("ix_consent_individual_external", "external_id", "external_id_type", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    external_id_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    identity_provider_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The member that registered it (None: the operator or the seed); it sees and may update the individual.
    registered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
