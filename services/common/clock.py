"""Time, one way for every service: aware UTC datetimes in code, `UTCDateTime` columns in the database
(`services.common.database`), and ISO 8601 with a `Z` on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A naive value is UTC by construction here (every service writes UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None, timespec: str = "microseconds") -> str | None:
    """`2026-11-27T01:02:03.456789Z`; `timespec="milliseconds"` for the specs that show three digits."""
    if moment is None:
        return None
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
