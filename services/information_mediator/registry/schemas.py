"""Response bodies of the Configuration Management API, as documented in /openapi.json."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Status(BaseModel):
    status: Literal["OK", "NOT_CONFIGURED"]
    instance: str | None
    configurationVersion: int
    applications: int
    services: int
    federatedInstances: int


class AllowedRight(BaseModel):
    memberClass: str
    memberCode: str
    applicationId: str
    member: str
    application: str
    endpoints: list[dict[str, str]] | None = None


class AllowedService(BaseModel):
    memberClass: str
    memberCode: str
    applicationId: str
    serviceId: str
    rights: list[AllowedRight]


class AllowList(BaseModel):
    allowList: list[AllowedService]
    nextPageToken: str | None = None


class Changed(BaseModel):
    changed: int = Field(description="rights added or removed")
