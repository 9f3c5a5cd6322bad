from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id
from services.consent.signatures.models import Signature

UNSIGNED = "unsigned"
SIGNED = "signed"


class ConsentRecord(Base):
    __tablename__ = "consent_record"
    __table_args__ = (
        UniqueConstraint("data_agreement_revision_id", "individual_id", name="uq_consent_record_revision_individual"),
        # The verification lookup: the latest record of each individual for an agreement.
        Index("ix_consent_record_lookup", "data_agreement_id", "individual_id", "created_at"),
        Index("ix_consent_record_individual", "individual_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    data_agreement_id: Mapped[str] = mapped_column(String(64))
    data_agreement_revision_id: Mapped[str] = mapped_column(String(64))
    data_agreement_revision_hash: Mapped[str] = mapped_column(String(64))
    individual_id: Mapped[str] = mapped_column(String(64))
    opt_in: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(32), default=UNSIGNED)
    signature_id: Mapped[str | None] = mapped_column(ForeignKey("consent_signature.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    signature: Mapped[Signature | None] = relationship(Signature, lazy="select")
