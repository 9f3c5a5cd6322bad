from __future__ import annotations

from pydantic import Field

from services.consent.schemas import SpecModel


class IndividualIn(SpecModel):
    externalId: str | None = Field(None, min_length=1, max_length=255)
    externalIdType: str | None = Field(None, min_length=1, max_length=64)
    identityProviderId: str | None = Field(None, max_length=255)


class IndividualBody(SpecModel):
    individual: IndividualIn
