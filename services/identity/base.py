"""The Identity service's declarative base and small shared helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.database import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """UTC ISO 8601 with milliseconds and `Z`, the spec's `requestTime` style."""
    moment = moment or utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; treat them as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
