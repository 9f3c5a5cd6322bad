from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class Webhook(Base):
    __tablename__ = "consent_webhook"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    payload_url: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64), default="application/json")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Encrypted (Fernet) with a key kept under the data directory: HMAC signing needs the secret itself.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    subscribed_events: Mapped[list] = mapped_column(JSON, default=list)
    # The member that registered it: only it manages the webhook, which gets events of its own objects only.
    # None: the operator's (events of every object).
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The durable outbox: one row per (event, webhook), written in the transaction that caused the event."""

    __tablename__ = "consent_webhook_delivery"
    __table_args__ = (Index("ix_consent_webhook_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / delivered / failed / cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
