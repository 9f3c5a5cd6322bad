"""Identities: the UIN record, its VIDs and aliases, and the history of every change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.identity.base import Base


class Identity(Base):
    __tablename__ = "idn_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uin: Mapped[str] = mapped_column(String(16), unique=True)  # never leaves the service
    status: Mapped[str] = mapped_column(String(16), default="active")
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)  # OIDC standard claim names
    pin_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # An alphanumeric knowledge factor (a password), hashed like the PIN; checked for a PIN challenge whose
    # format is `alpha-numeric` (oidc/service.py).
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The e-mail address in lower case: unique, so that an address names at most one resident.
    email_key: Mapped[str | None] = mapped_column(String(256), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # authentication lockout (identities/lockout.py)
    auth_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    auth_lockouts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Authentication factors blocked by the resident or the administrator (/block): factor -> until (ISO) or None
    blocked_factors: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")


class Vid(Base):
    __tablename__ = "idn_vid"

    # Generated VIDs are 10 digits; fixture records (the conformance profile) use longer alphanumeric ones.
    vid: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("idn_identity.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Alias(Base):
    __tablename__ = "idn_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("idn_identity.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "name"
    value: Mapped[str] = mapped_column(String(256))


class IdentityChange(Base):
    __tablename__ = "idn_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("idn_identity.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(32))  # created, updated, vid_issued, vid_revoked, ...
    source: Mapped[str] = mapped_column(String(128))  # enrollment id, seed, admin
    actor: Mapped[str | None] = mapped_column(String(256), nullable=True)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> {"old": .., "new": ..}
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
