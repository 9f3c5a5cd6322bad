from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.consent.db import Base, new_id


class DataAgreement(Base):
    __tablename__ = "consent_data_agreement"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    version: Mapped[str] = mapped_column(String(64))
    controller_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    controller_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    controller_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    policy_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The policy revision this agreement was made against: a later policy update does not move it.
    policy_revision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    lawful_basis: Mapped[str] = mapped_column(String(32))
    data_use: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dpia: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    forgettable: Mapped[bool] = mapped_column(Boolean, default=False)
    compatible_with_version_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lifecycle: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # DataAgreementAttribute rows (id, name, sensitivity, category), revisioned with the agreement.
    data_attributes: Mapped[list] = mapped_column(JSON, default=list)
    # Members (INSTANCE/CLASS/MEMBER) besides the controller that may verify consent; revisioned.
    data_consumers: Mapped[list | None] = mapped_column(JSON, nullable=True)
    signature_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
