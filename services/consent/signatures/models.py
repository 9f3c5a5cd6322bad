from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class Signature(Base):
    """A signature over a Revision (spec 7, `Signature`)."""

    __tablename__ = "consent_signature"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    payload: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    verification_method: Mapped[str] = mapped_column(String(64), default="JWS")
    verification_payload: Mapped[str] = mapped_column(Text)
    verification_payload_hash: Mapped[str] = mapped_column(String(64))
    verification_artifact: Mapped[str | None] = mapped_column(Text, nullable=True)
    verification_signed_by: Mapped[str] = mapped_column(Text, default="")
    verification_signed_as: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verification_jws_header: Mapped[str | None] = mapped_column(Text, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_without_object_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    object_type: Mapped[str] = mapped_column(String(32), default="revision")
    object_reference: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
