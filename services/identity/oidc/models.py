"""One login transaction from /authorize (or a wallet link) to the tokens it produced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class AuthTransaction(Base):
    __tablename__ = "idn_auth_transaction"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # transactionId
    client_id: Mapped[str] = mapped_column(String(50), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    scopes: Mapped[list] = mapped_column(JSON)
    essential_claims: Mapped[list] = mapped_column(JSON)
    voluntary_claims: Mapped[list] = mapped_column(JSON)
    acr_values: Mapped[list] = mapped_column(JSON)
    state: Mapped[str | None] = mapped_column(String(256), nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(512), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    xsrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(24), default="started")  # started/authenticated/consented/failed

    # authentication
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    otp_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    otp_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    otp_identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the SSO session it belongs to

    # consent
    accepted_claims: Mapped[list] = mapped_column(JSON, default=list)
    permitted_scopes: Mapped[list] = mapped_column(JSON, default=list)

    # wallet link (linked authorization)
    link_code: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    link_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    link_transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # code and tokens
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    code_used: Mapped[bool] = mapped_column(Boolean, default=False)
    access_token_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    tokens_revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class UsedAssertion(Base):
    """Client assertion `jti`s seen, kept until the assertion would have expired anyway."""

    __tablename__ = "idn_used_assertion"

    client_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class IdentitySession(Base):
    """A resident's single sign-on session at the provider (oidc/sso.py); the cookie holds a token, the row its
    keyed hash."""

    __tablename__ = "idn_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # keyed hash of the cookie's token
    identity_id: Mapped[int] = mapped_column(Integer, index=True)
    acr: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute expiry
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clients: Mapped[list] = mapped_column(JSON, default=list)  # client ids that received a code in it
    consents: Mapped[dict] = mapped_column(JSON, default=dict)  # client id -> claims accepted in it
