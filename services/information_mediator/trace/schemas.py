"""Response bodies of the trace, monitoring and key endpoints, as documented in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Exchange(BaseModel):
    """One message-log record (no bodies); identifiers in `path` redacted unless the operator shows them."""

    id: int
    seq: int
    chain: str
    messageId: str
    correlationId: str | None
    kind: str = Field(description="`rest` or `event`")
    client: str
    service: str
    method: str
    path: str
    status: int
    errorType: str | None
    requestAt: str = Field(description="UTC, ISO 8601")
    durationMs: float
    requestSize: int
    responseSize: int
    requestHash: str
    responseHash: str


class Trace(BaseModel):
    exchanges: list[Exchange]


class Durations(BaseModel):
    avg: float
    min: float
    max: float


class ServiceClientStatistics(BaseModel):
    service: str
    client: str
    requests: int
    successes: int
    failures: int
    durationMs: Durations
    requestBytes: int
    responseBytes: int
    lastRequestAt: str | None


class Statistics(BaseModel):
    statistics: list[ServiceClientStatistics]


class JWKS(BaseModel):
    keys: list[dict[str, Any]]
