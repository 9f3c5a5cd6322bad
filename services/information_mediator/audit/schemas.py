"""The audit log as `GET /api/v1/audit` answers it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AuditRecord(BaseModel):
    id: int
    at: str = Field(description="UTC, ISO 8601")
    actor: str
    action: str
    outcome: Literal["success", "rejected", "refused"]
    status: int
    detail: str | None


class AuditLog(BaseModel):
    entries: list[AuditRecord]
