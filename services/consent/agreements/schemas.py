from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from services.consent.schemas import SpecModel

MEMBER_ID = re.compile(r"^[^/\s]+/[^/\s]+/[^/\s]+$")  # INSTANCE/CLASS/MEMBER, as the IM names a member
LAWFUL_BASES = ("consent", "legal_obligation", "contract", "vital_interest", "public_task", "legitimate_interest")


class ControllerIn(SpecModel):
    id: str | None = Field(None, max_length=64)
    name: str = Field(min_length=1, max_length=255)
    url: str = Field(min_length=1, max_length=2000)


class AttributeIn(SpecModel):
    id: str | None = Field(None, max_length=64)
    name: str = Field(min_length=1, max_length=255)
    sensitivity: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2000)


class DataAgreementIn(SpecModel):
    version: str = Field(min_length=1, max_length=64)
    controller: ControllerIn | None = None
    policy: str | dict[str, Any] | None = None
    policyRevision: str | None = Field(None, description="Extension: pin a specific revision of the policy")
    purpose: str = Field(min_length=1, max_length=4000)
    lawfulBasis: Literal[LAWFUL_BASES]  # type: ignore[valid-type]
    dataUse: str | None = Field(None, max_length=64)
    dpia: str = Field(max_length=4000)
    active: bool = True
    forgettable: bool = False
    compatibleWithVersion: str | dict[str, Any] | None = None
    lifecycle: str | dict[str, Any] | None = None
    dataAttributes: list[AttributeIn] = Field(default_factory=list, max_length=500)
    dataConsumers: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Extension: members (INSTANCE/CLASS/MEMBER) besides the controller that may verify consent",
    )

    @field_validator("dataConsumers")
    @classmethod
    def _member_ids(cls, value: list[str]) -> list[str]:
        for member in value:
            if len(member) > 64 or not MEMBER_ID.match(member):
                raise ValueError("each data consumer is a member id INSTANCE/CLASS/MEMBER (at most 64 characters)")
        return list(dict.fromkeys(value))

    @field_validator("lifecycle")
    @classmethod
    def _lifecycle_name(cls, value: Any) -> str | None:
        if isinstance(value, dict):
            value = value.get("name")
        if value is None:
            return None
        if str(value).lower() not in ("draft", "complete"):
            raise ValueError("lifecycle must be 'draft' or 'complete'")
        return str(value).lower()


class DataAgreementBody(SpecModel):
    dataAgreement: DataAgreementIn
