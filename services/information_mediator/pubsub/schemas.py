"""Request bodies of the PubSub API, checked by hand so that every refusal is a 400 in the IM's shape
with a sentence a developer can act on."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..registry.conf import IDENTIFIER
from ..settings import IMSettings
from .service import BAD, SUBSCRIBE_SUFFIX, PubSubError, RetryPolicy


def event_type_code(value: object) -> str:
    if (
        not isinstance(value, str)
        or not IDENTIFIER.match(value)
        or len(value) > 100
        or value.endswith(SUBSCRIBE_SUFFIX)
    ):
        raise PubSubError(BAD, "eventType must be 1-100 letters, digits, '.', '_' or '-' (not ending in .subscribe)")
    return value


def event_type_body(payload: dict, settings: IMSettings) -> tuple[str, dict]:
    if "schema" not in payload:
        raise PubSubError(BAD, "schema is required")
    _bounded("schema", payload["schema"], settings.pubsub_max_schema_bytes)
    return event_type_code(payload.get("eventType")), payload["schema"]


def publish_body(payload: dict, event_type: str, settings: IMSettings) -> tuple[object, str | None]:
    if payload.get("eventType", event_type) != event_type:
        raise PubSubError(BAD, f"eventType {payload.get('eventType')!r} differs from the path's {event_type!r}")
    if "event" not in payload:
        raise PubSubError(BAD, "event is required")
    _bounded("event", payload["event"], settings.pubsub_max_event_bytes)
    event_id = payload.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not 1 <= len(event_id) <= 64):
        raise PubSubError(BAD, "id, when given, must be a string of 1-64 characters")
    return payload["event"], event_id


def _bounded(name: str, value: object, max_bytes: int) -> None:
    try:
        size = len(json.dumps(value, separators=(",", ":")))
    except RecursionError as exc:
        raise PubSubError(BAD, f"{name} is nested too deeply") from exc
    if size > max_bytes:
        raise PubSubError(BAD, f"{name} is {size} bytes as JSON; at most {max_bytes} are accepted")


@dataclass
class SubscriptionFields:
    delivery: str
    ttl: int
    fifo: bool
    service_code: str | None
    path: str
    policy: RetryPolicy


def _int(value: object, name: str, low: float, high: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PubSubError(BAD, f"{name} must be an integer from {low} to {high}")
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PubSubError(BAD, f"{name} must be a number from {low} to {high}")
    return float(value)


def subscription_body(
    payload: dict, event_type: str, settings: IMSettings, current: SubscriptionFields | None = None
) -> SubscriptionFields:
    """A new subscription (defaults from the settings) or a PATCH merged onto `current`."""
    if payload.get("eventType", event_type) != event_type:
        raise PubSubError(BAD, f"eventType {payload.get('eventType')!r} differs from the path's {event_type!r}")
    base = current or SubscriptionFields(
        "PUSH",
        settings.pubsub_default_ttl,
        False,
        None,
        "",
        RetryPolicy(settings.pubsub_max_attempts, settings.pubsub_min_backoff, settings.pubsub_max_backoff),
    )
    delivery = payload.get("delivery", base.delivery)
    if delivery not in ("PUSH", "PULL"):
        raise PubSubError(BAD, "delivery must be PUSH or PULL")
    options = payload.get("options") or {}
    if not isinstance(options, dict):
        raise PubSubError(BAD, "options must be an object")
    ttl = _int(options.get("TTL", options.get("ttl", base.ttl)), "options.TTL", 1, settings.pubsub_max_ttl)
    fifo = options.get("FIFO", options.get("fifo", base.fifo))
    if not isinstance(fifo, bool):
        raise PubSubError(BAD, "options.FIFO must be a boolean")
    policy = RetryPolicy(
        _int(
            options.get("maxAttempts", base.policy.max_attempts),
            "options.maxAttempts",
            1,
            settings.pubsub_limit_max_attempts,
        ),
        _number(
            options.get("minBackoff", base.policy.min_backoff),
            "options.minBackoff",
            settings.pubsub_limit_min_backoff,
            settings.pubsub_limit_max_backoff,
        ),
        _number(
            options.get("maxBackoff", base.policy.max_backoff),
            "options.maxBackoff",
            settings.pubsub_limit_min_backoff,
            settings.pubsub_limit_max_backoff,
        ),
    )
    if policy.min_backoff > policy.max_backoff:
        raise PubSubError(BAD, "options.minBackoff must not exceed options.maxBackoff")
    service_code = payload.get("serviceCode", base.service_code)
    path = payload.get("path", base.path) or ""
    if delivery == "PUSH":
        service_code = service_code or event_type
        if not isinstance(service_code, str) or not IDENTIFIER.match(service_code):
            raise PubSubError(BAD, "serviceCode must be the code of a service of the subscriber's application")
        if not isinstance(path, str) or (path and not path.startswith("/")) or len(path) > 1024:
            raise PubSubError(BAD, "path must be empty or start with '/'")
    return SubscriptionFields(
        delivery, ttl, fifo, service_code if delivery == "PUSH" else None, path if delivery == "PUSH" else "", policy
    )
