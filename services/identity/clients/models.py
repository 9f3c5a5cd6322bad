from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class OidcClient(Base):
    __tablename__ = "idn_oidc_client"

    client_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    client_name: Mapped[str] = mapped_column(String(256))
    relying_party_id: Mapped[str] = mapped_column(String(50))
    logo_uri: Mapped[str] = mapped_column(String(1024))
    redirect_uris: Mapped[list] = mapped_column(JSON)
    auth_context_refs: Mapped[list] = mapped_column(JSON)
    public_key: Mapped[dict] = mapped_column(JSON)
    enc_public_key: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # OIDC BCL 1.0
    user_claims: Mapped[list] = mapped_column(JSON)
    grant_types: Mapped[list] = mapped_column(JSON)
    client_auth_methods: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
