"""A resident's service history: the events of the spec's `/events/{eventId}` and `/service-history`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class ResidentEvent(Base):
    __tablename__ = "idn_event"

    event_id: Mapped[str] = mapped_column(String(16), primary_key=True)  # 16 random digits (spec)
    identity_id: Mapped[int] = mapped_column(ForeignKey("idn_identity.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))  # the spec's serviceType, e.g. DATA_SHARE_REQUEST
    status: Mapped[str] = mapped_column(String(16))  # SUCCESS, IN_PROGRESS, FAILED
    summary: Mapped[str] = mapped_column(String(256))
    info: Mapped[dict] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(128))  # resident, admin, or the relying party
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
