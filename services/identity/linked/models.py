from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class WalletPartner(Base):
    __tablename__ = "idn_wallet_partner"

    partner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WalletBinding(Base):
    __tablename__ = "idn_wallet_binding"
    __table_args__ = (UniqueConstraint("partner_psut", "key_thumbprint", "auth_factor_type"),)

    wallet_user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(Integer, index=True)
    partner_id: Mapped[str] = mapped_column(String(64))
    partner_psut: Mapped[str] = mapped_column(String(64))
    key_thumbprint: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[dict] = mapped_column(JSON)
    auth_factor_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
