"""The simulated SMS and e-mail inbox: every message the provider would have sent to a resident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class Notification(Base):
    __tablename__ = "idn_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("idn_identity.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms, email
    address: Mapped[str] = mapped_column(String(256))  # the phone number or e-mail address it went to
    kind: Mapped[str] = mapped_column(String(32))  # otp, credential_shared, factor_blocked, new_client_login, ...
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
