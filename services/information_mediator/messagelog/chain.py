"""How a message-log record is hashed and signed; shared by the writer and the verifier."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
HASHED_FIELDS = (
    "chain",
    "seq",
    "message_id",
    "kind",
    "client",
    "service",
    "method",
    "path",
    "status",
    "error_type",
    "request_at",
    "response_at",
    "duration_ms",
    "request_size",
    "response_size",
    "request_hash",
    "response_hash",
)
# Fields added later: hashed, by name, only when set, so that records written before them still verify.
OPTIONAL_HASHED_FIELDS = ("correlation_id",)


def _canonical(value: object) -> str:
    if type(value) is str:  # most fields: the quickest test first (the log hashes every exchange)
        return value
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        # Databases hand datetimes back naive (SQLite) or in the session's zone (PostgreSQL): normalise to UTC.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def record_hash(fields: dict, prev_hash: str, bodies: tuple[bytes | None, bytes | None]) -> str:
    """SHA-256 over the record's fields in a fixed order, its predecessor's hash and its bodies' hashes.

    Fields are joined with the unit separator (0x1F), which cannot occur in them (`fields.fit` escapes it)."""
    parts = [_canonical(fields[k]) for k in HASHED_FIELDS]
    parts += [f"{k}={_canonical(fields[k])}" for k in OPTIONAL_HASHED_FIELDS if fields.get(k) is not None]
    parts.append(prev_hash)
    parts += [hashlib.sha256(b).hexdigest() if b is not None else "\x00" for b in bodies]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def sign(key: Ed25519PrivateKey, digest: str) -> str:
    return base64.b64encode(key.sign(digest.encode())).decode()


def signature_valid(key: Ed25519PublicKey, digest: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), digest.encode())
        return True
    except (InvalidSignature, ValueError):
        return False
