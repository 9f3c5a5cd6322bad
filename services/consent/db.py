"""The Consent service's declarative base; every capability's models register on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.common.database import declarative_base

Base = declarative_base()


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """UTC ISO 8601 with a `Z` (SQLite returns naive datetimes, which are UTC by construction)."""
    if ts is None:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds") + "Z"
