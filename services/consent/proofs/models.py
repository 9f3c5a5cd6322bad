from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class IndividualSubject(Base):
    """Identity said yes once: the person behind this individual's UIN/VID is the one OIDC client `client_id`
    knows by `sub`. The next proof of that subject needs no question to Identity."""

    __tablename__ = "consent_individual_subject"
    __table_args__ = (UniqueConstraint("individual_id", "client_id", "sub", name="uq_consent_individual_subject"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    individual_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    sub: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
