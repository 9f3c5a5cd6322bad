"""Pub/sub tables: event types of a room, published events, subscriptions and one delivery row per
(event, subscription) that carries the delivery state (the PUSH retry schedule or the PULL queue)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import UTCDateTime

from ..base import Base

BIGINT = BigInteger().with_variant(Integer, "sqlite")

# Delivery states. `pending` is the only one a worker or a puller acts on.
PENDING, DELIVERED, FAILED, EXPIRED, CANCELLED = "pending", "delivered", "failed", "expired", "cancelled"


class EventType(Base):
    __tablename__ = "im_pubsub_event_type"
    __table_args__ = (UniqueConstraint("room", "event_type"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room: Mapped[str] = mapped_column(String(512))  # INSTANCE/CLASS/MEMBER/APPLICATION of the owner
    event_type: Mapped[str] = mapped_column(String(128))
    schema_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    """`id` is the publication sequence: assigned while the event type row is locked, so it grows in
    commit order within an event type."""

    __tablename__ = "im_pubsub_event"
    __table_args__ = (Index("ix_im_pubsub_event_room_type", "room", "event_type"),)
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    room: Mapped[str] = mapped_column(String(512))
    event_type: Mapped[str] = mapped_column(String(128))
    publisher: Mapped[str] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Subscription(Base):
    __tablename__ = "im_pubsub_subscription"
    __table_args__ = (Index("ix_im_pubsub_subscription_lookup", "room", "event_type", "subscriber"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room: Mapped[str] = mapped_column(String(512))
    event_type: Mapped[str] = mapped_column(String(128))
    subscriber: Mapped[str] = mapped_column(String(512))
    delivery: Mapped[str] = mapped_column(String(8))  # PUSH | PULL
    ttl: Mapped[int] = mapped_column(Integer)
    fifo: Mapped[bool] = mapped_column(Boolean)
    service_code: Mapped[str | None] = mapped_column(String(128), nullable=True)  # PUSH target service
    path: Mapped[str] = mapped_column(String(1024), default="")
    max_attempts: Mapped[int] = mapped_column(Integer)
    min_backoff: Mapped[float] = mapped_column(Float)
    max_backoff: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Delivery(Base):
    __tablename__ = "im_pubsub_delivery"
    __table_args__ = (
        UniqueConstraint("event_pk", "subscription_id"),
        Index("ix_im_pubsub_delivery_due", "state", "next_attempt_at"),
        Index("ix_im_pubsub_delivery_queue", "subscription_id", "state", "sequence"),
    )
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("im_pubsub_event.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("im_pubsub_subscription.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)  # = event_pk; kept here for the queue index
    push: Mapped[bool] = mapped_column(Boolean)
    fifo: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(512), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
