"""A record is made to fit the log's columns before it is queued, so that no record can fail its batch: text is
cut to its column's size and control characters are escaped (PostgreSQL refuses NUL in text, and the hash chain
separates fields with 0x1F). What is not an exchange record at all is refused with a ValueError."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import String

from .models import LogRecord

LENGTHS = {column.key: column.type.length for column in LogRecord.__table__.columns if isinstance(column.type, String)}
TEXT = ("message_id", "kind", "client", "service", "method", "path")
OPTIONAL_TEXT = ("error_type", "correlation_id")
COUNTS = {"status": 2**31 - 1, "request_size": 2**63 - 1, "response_size": 2**63 - 1}
TIMES = ("request_at", "response_at")
DIGESTS = ("request_hash", "response_hash")
BODIES = ("request_body", "response_body")
FIELDS = {*TEXT, *OPTIONAL_TEXT, *COUNTS, *TIMES, *DIGESTS, *BODIES, "duration_ms"}
_ESCAPES = {c: f"%{c:02X}" for c in [*range(0x20), 0x7F]}


def fit(record: dict) -> dict:
    """A copy of `record` that the log's columns accept (see the module's docstring)."""
    unknown = record.keys() - FIELDS
    if unknown:
        raise ValueError(f"message log record: unknown fields {sorted(unknown)}")
    row = {name: _text(record, name) for name in TEXT}
    row.update({name: None if record.get(name) is None else _text(record, name) for name in OPTIONAL_TEXT})
    row.update({name: _count(record, name, largest) for name, largest in COUNTS.items()})
    row.update({name: _time(record, name) for name in TIMES})
    row.update({name: _digest(record, name) for name in DIGESTS})
    row.update({name: _body(record, name) for name in BODIES})
    duration = record.get("duration_ms")
    if not isinstance(duration, int | float) or not math.isfinite(duration):
        raise ValueError("message log record: duration_ms must be a finite number")
    row["duration_ms"] = float(duration)
    return row


def _text(record: dict, name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise ValueError(f"message log record: {name} must be a string")
    if not value.isprintable():
        value = value.translate(_ESCAPES)
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be stored
    return value[: LENGTHS[name]]


def _count(record: dict, name: str, largest: int) -> int:
    value = record.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= largest:
        raise ValueError(f"message log record: {name} must be an integer from 0 to {largest}")
    return value


def _time(record: dict, name: str) -> datetime:
    value = record.get(name)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"message log record: {name} must be a datetime with a time zone")
    return value


def _digest(record: dict, name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"message log record: {name} must be a SHA-256 hex digest")
    return value


def _body(record: dict, name: str) -> bytes | None:
    value = record.get(name)
    if not isinstance(value, bytes | None):
        raise ValueError(f"message log record: {name} must be bytes or None")
    return value
