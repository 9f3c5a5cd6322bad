from __future__ import annotations

from pydantic import Field, field_validator

from services.consent.schemas import SpecModel
from services.consent.webhooks import events


class WebhookIn(SpecModel):
    payloadUrl: str = Field(min_length=1, max_length=2000)
    contentType: str = Field("application/json", max_length=64)
    disabled: bool = False
    secretKey: str | None = Field(None, min_length=8, max_length=512)
    subscribedEvents: list[str] = Field(default_factory=list, description="Extension: event names; empty = all")

    @field_validator("payloadUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("payloadUrl must be an http(s) URL")
        return value

    @field_validator("contentType")
    @classmethod
    def _json_only(cls, value: str) -> str:
        if value.split(";")[0].strip().lower() not in ("application/json", "json"):
            raise ValueError("contentType must be application/json")
        return "application/json"

    @field_validator("subscribedEvents")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(events.ALL))
        if unknown:
            raise ValueError(f"unknown events {unknown}; known: {events.ALL}")
        return sorted(set(value))


class WebhookBody(SpecModel):
    webhook: WebhookIn
