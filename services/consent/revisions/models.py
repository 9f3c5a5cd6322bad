from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class Revision(Base):
    """One immutable step in an object's history (spec 7, `Revision`). Only `successor_id` is ever updated."""

    __tablename__ = "consent_revision"
    __table_args__ = (UniqueConstraint("schema_name", "object_id", "seq", name="uq_consent_revision_chain"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    schema_name: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    signed_without_object_id: Mapped[bool] = mapped_column(Boolean, default=False)
    serialized_snapshot: Mapped[str] = mapped_column(Text)
    serialized_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    authorized_by_individual: Mapped[str | None] = mapped_column(String(64), nullable=True)
    authorized_by_other: Mapped[str | None] = mapped_column(String(255), nullable=True)
    successor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    predecessor_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    predecessor_signature: Mapped[str | None] = mapped_column(Text, nullable=True)
