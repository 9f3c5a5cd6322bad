"""Request and response bodies of the PubSub API (`GovStack_IM_PubSub_API.yaml`).

Request fields are typed loosely and checked by validators that raise `PubSubError`, so that every refusal
is a 400 in the IM's shape with a sentence a developer can act on (not pydantic's); the documented types are
given with `WithJsonSchema`. Checks against the administrator's limits (sizes, retry bounds) need the
settings and are methods (`bounded`, `merged`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from services.common.outbox import Backoff

from ..registry.conf import IDENTIFIER
from ..settings import IMSettings
from .service import BAD, SUBSCRIBE_SUFFIX, PubSubError


def _refuse(message: str) -> PubSubError:
    return PubSubError(BAD, message)


# Fields accepted as any JSON value (a validator says what is wrong), documented as the spec types them.
AnyJSON = Annotated[object, WithJsonSchema({})]
Text = Annotated[object, WithJsonSchema({"type": "string"})]
EventTypeCode = Annotated[object, WithJsonSchema({"type": "string", "maxLength": 100, "examples": ["newBirth"]})]
JSONSchema = Annotated[object, WithJsonSchema({"type": "object", "description": "JSON Schema of the events"})]
Integer = Annotated[object, WithJsonSchema({"type": "integer"})]
Number = Annotated[object, WithJsonSchema({"type": "number"})]
Boolean = Annotated[object, WithJsonSchema({"type": "boolean"})]


def event_type_code(value: object) -> str:
    if (
        not isinstance(value, str)
        or not IDENTIFIER.match(value)
        or len(value) > 100
        or value.endswith(SUBSCRIBE_SUFFIX)
    ):
        raise _refuse("eventType must be 1-100 letters, digits, '.', '_' or '-' (not ending in .subscribe)")
    return value


def _bounded(name: str, value: object, max_bytes: int) -> str:
    """`value` as compact JSON, refused when longer than `max_bytes`."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except RecursionError as exc:
        raise _refuse(f"{name} is nested too deeply") from exc
    if len(text) > max_bytes:
        raise _refuse(f"{name} is {len(text)} bytes as JSON; at most {max_bytes} are accepted")
    return text


def _same_type(given: object, event_type: str) -> None:
    if given is not None and given != event_type:
        raise _refuse(f"eventType {given!r} differs from the path's {event_type!r}")


# ---- event types ----------------------------------------------------------------------------------------


class EventTypeBody(BaseModel):
    """The spec's EventType, as created (`POST api/v1/eventType`)."""

    eventType: EventTypeCode = None
    schema_: JSONSchema = Field(None, alias="schema")

    @model_validator(mode="after")
    def _checked(self) -> EventTypeBody:
        if "schema_" not in self.model_fields_set:
            raise _refuse("schema is required")
        event_type_code(self.eventType)
        return self

    def bounded(self, settings: IMSettings) -> tuple[str, dict]:
        _bounded("schema", self.schema_, settings.pubsub_max_schema_bytes)
        return self.eventType, self.schema_  # type: ignore[return-value]  # checked above and by the service


class EventType(BaseModel):
    eventType: str
    schema_: dict[str, Any] = Field(alias="schema")


# ---- publishing ---------------------------------------------------------------------------------------


class PublishEvent(BaseModel):
    """The spec's PublishEvent, plus an optional publisher-chosen `id` (a retry with it is not stored twice)."""

    eventType: EventTypeCode = None
    event: AnyJSON = Field(None, description="the event, valid against its type's JSON Schema")
    id: Text = Field(None, description="1-64 characters, chosen by the publisher")

    @model_validator(mode="after")
    def _checked(self) -> PublishEvent:
        if "event" not in self.model_fields_set:
            raise _refuse("event is required")
        if self.id is not None and (not isinstance(self.id, str) or not 1 <= len(self.id) <= 64):
            raise _refuse("id, when given, must be a string of 1-64 characters")
        return self

    def bounded(self, event_type: str, settings: IMSettings) -> tuple[object, str | None, str]:
        """The event, its publisher-chosen id and the event as JSON (what is stored and logged)."""
        _same_type(self.eventType, event_type)
        payload = _bounded("event", self.event, settings.pubsub_max_event_bytes)
        return self.event, self.id, payload  # type: ignore[return-value]


class PublishEventResult(BaseModel):
    id: str


class ApplicationId(BaseModel):
    instanceId: str
    memberClass: str
    memberCode: str
    applicationCode: str


class EventItem(BaseModel):
    id: str
    sequence: int
    publisherId: ApplicationId
    eventType: str
    event: Any
    publishedAt: str = Field(description="UTC, ISO 8601")


class DeliveryStatus(BaseModel):
    subscriptionId: str
    subscriber: str
    delivery: Literal["PUSH", "PULL"]
    state: str
    attempts: int
    lastStatus: int | None
    lastError: str | None
    deliveredAt: str | None
    nextAttemptAt: str | None


class EventStatus(EventItem):
    """`getStatus`: the EventItem with where it was delivered."""

    cancelled: bool
    status: dict[str, int] = Field(description="subscriptions, delivered, pending, failed, expired, cancelled")
    summary: str
    deliveries: list[DeliveryStatus]


# ---- subscriptions ------------------------------------------------------------------------------------


@dataclass
class SubscriptionFields:
    delivery: str
    ttl: int
    fifo: bool
    service_code: str | None
    path: str
    policy: Backoff


def _int(value: object, name: str, low: float, high: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(f"{name} must be an integer from {low} to {high}")
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _refuse(f"{name} must be a number from {low} to {high}")
    return float(value)


class SubscriptionOptions(BaseModel):
    """Limits of these come from the administrator (`INFORMATION_MEDIATOR_PUBSUB_LIMIT_*`)."""

    model_config = ConfigDict(extra="allow")

    TTL: Integer = Field(None, description="seconds from publication")
    FIFO: Boolean = None
    maxAttempts: Integer = None
    minBackoff: Number = Field(None, description="seconds before the first retry")
    maxBackoff: Number = Field(None, description="seconds, at most, between retries")


class SubscriptionBody(BaseModel):
    """`addSub` / `patchSub`: what is given; a PATCH keeps what it does not name."""

    eventType: EventTypeCode = None
    delivery: Annotated[object, WithJsonSchema({"enum": ["PUSH", "PULL"], "default": "PUSH"})] = None
    options: SubscriptionOptions | None = None
    serviceCode: Text = Field(None, description="PUSH target: a service of the subscriber's application")
    path: Text = Field(None, description="PUSH target: a path under that service")

    @field_validator("delivery", mode="before")
    @classmethod
    def _delivery(cls, value: object) -> object:
        if value is not None and value not in ("PUSH", "PULL"):
            raise _refuse("delivery must be PUSH or PULL")
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: object) -> object:
        if value and not isinstance(value, dict):
            raise _refuse("options must be an object")
        return value or None

    def merged(
        self, event_type: str, settings: IMSettings, current: SubscriptionFields | None = None
    ) -> SubscriptionFields:
        """A new subscription (defaults from the settings) or a PATCH merged onto `current`."""
        _same_type(self.eventType, event_type)
        base = current or SubscriptionFields(
            "PUSH",
            settings.pubsub_default_ttl,
            False,
            None,
            "",
            Backoff(settings.pubsub_min_backoff, settings.pubsub_max_backoff, settings.pubsub_max_attempts),
        )
        delivery = self.delivery or base.delivery
        options = self.options.model_dump(exclude_unset=True) if self.options else {}
        ttl = _int(options.get("TTL", options.get("ttl", base.ttl)), "options.TTL", 1, settings.pubsub_max_ttl)
        fifo = options.get("FIFO", options.get("fifo", base.fifo))
        if not isinstance(fifo, bool):
            raise _refuse("options.FIFO must be a boolean")
        policy = _policy(options, base.policy, settings)
        service_code = self.serviceCode if "serviceCode" in self.model_fields_set else base.service_code
        path = (self.path if "path" in self.model_fields_set else base.path) or ""
        if delivery == "PUSH":
            service_code = service_code or event_type
            if not isinstance(service_code, str) or not IDENTIFIER.match(service_code):
                raise _refuse("serviceCode must be the code of a service of the subscriber's application")
            if not isinstance(path, str) or (path and not path.startswith("/")) or len(path) > 1024:
                raise _refuse("path must be empty or start with '/'")
            return SubscriptionFields(delivery, ttl, fifo, service_code, path, policy)
        return SubscriptionFields(delivery, ttl, fifo, None, "", policy)


def _policy(options: dict, base: Backoff, settings: IMSettings) -> Backoff:
    max_attempts = _int(
        options.get("maxAttempts", base.max_attempts), "options.maxAttempts", 1, settings.pubsub_limit_max_attempts
    )
    low, high = settings.pubsub_limit_min_backoff, settings.pubsub_limit_max_backoff
    min_backoff = _number(options.get("minBackoff", base.base_seconds), "options.minBackoff", low, high)
    max_backoff = _number(options.get("maxBackoff", base.cap_seconds), "options.maxBackoff", low, high)
    if min_backoff > max_backoff:
        raise _refuse("options.minBackoff must not exceed options.maxBackoff")
    return Backoff(min_backoff, max_backoff, max_attempts)


class SubscriptionItem(BaseModel):
    id: str
    subscriberId: ApplicationId
    eventType: str
    delivery: Literal["PUSH", "PULL"]
    options: dict[str, Any] = Field(description="TTL, FIFO, maxAttempts, minBackoff, maxBackoff")
    serviceCode: str | None = Field(None, description="PUSH only")
    path: str | None = Field(None, description="PUSH only")
