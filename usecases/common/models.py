"""Columns every use case's login needs; each use case maps them to its own tables (its own migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime


class LoginStateColumns:
    """One started OIDC login: what the callback needs to finish it."""

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(200), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSessionColumns:
    """A logged-in user; the cookie holds a random token, the table only its SHA-256."""

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sub: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The signed userinfo JWT of the login: the resident's proof for the Consent calls that express their will
    proof: Mapped[str | None] = mapped_column(Text, nullable=True)
