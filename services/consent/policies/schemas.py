from __future__ import annotations

from pydantic import Field

from services.consent.schemas import MAX_INT, SpecModel


class PolicyIn(SpecModel):
    name: str = Field(min_length=1, max_length=255)
    version: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2000)
    jurisdiction: str | None = Field(None, max_length=255)
    industrySector: str | None = Field(None, max_length=255)
    dataRetentionPeriodDays: int | None = Field(None, ge=0, le=MAX_INT)
    geographicRestriction: str | None = Field(None, max_length=255)
    storageLocation: str | None = Field(None, max_length=255)


class PolicyBody(SpecModel):
    policy: PolicyIn
