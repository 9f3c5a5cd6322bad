"""The PubSub API (`GovStack_IM_PubSub_API.yaml`) under `/r1/{instance}/{class}/{member}/{application}/`,
where the application is the room. Every call authenticates its client like any IM call."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.errors import APIError
from services.common.im_client import SECRET_HEADER

from ..proxy.errors import ACCESS_DENIED, IMError
from ..proxy.forward import authenticate_client
from . import service
from .models import Event, Subscription
from .schemas import SubscriptionFields, event_type_body, publish_body, subscription_body
from .service import BAD, CONFLICT, FORBIDDEN, NOT_FOUND, SUBSCRIBE_SUFFIX, PubSubError, RetryPolicy

_P = ParamSpec("_P")
_T = TypeVar("_T")

ROOM = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}"
router = APIRouter(prefix=ROOM, tags=["Pub/Sub"])

KINDS = {
    BAD: ("Client.BadRequest", 400),
    NOT_FOUND: ("Client.NotFound", 404),
    CONFLICT: ("Client.Conflict", 409),
    FORBIDDEN: ACCESS_DENIED,
}


def _fail(type_: str, status: int, message: str, request: Request) -> APIError:
    message_id = request.headers.get("x-road-id", "")
    return APIError(status, {"type": type_, "message": message, "detail": message_id}, {"X-Road-Error": type_})


class Call:
    """The authenticated caller of one request, its room and what it may do there."""

    def __init__(self, request: Request, instanceId: str, memberClass: str, memberCode: str, applicationCode: str):
        self.request = request
        self.runtime = request.app.state.im_runtime
        self.room = f"{instanceId}/{memberClass}/{memberCode}/{applicationCode}"
        headers = request.headers
        claimed = (
            headers.get("information-mediator-client")
            or headers.get("x-govstack-client")
            or headers.get("x-road-client")
        )
        try:
            self.client = authenticate_client(self.runtime.snapshot, claimed, headers.get(SECRET_HEADER))
        except IMError as err:
            raise _fail(err.type, err.status, err.message, request) from err
        if self.room not in self.runtime.snapshot.clients:
            raise _fail("Server.UnknownService", 404, f"unknown room {self.room}", request)

    @property
    def owner(self) -> bool:
        return self.client == self.room

    def require_owner(self) -> None:
        if not self.owner:
            raise PubSubError(FORBIDDEN, f"only the room's application {self.room} administers its event types")

    def require_right(self, service_code: str, what: str) -> None:
        entry = self.runtime.snapshot.services.get(f"{self.room}/{service_code}")
        if self.owner or (entry is not None and entry.enabled and self.client in entry.allowed):
            return
        raise PubSubError(FORBIDDEN, f"client {self.client} has no right to {what} in room {self.room}")

    def run(self, work: Callable[Concatenate[Session, _P], _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """`work(session, ...)` in one transaction; pub/sub errors become the IM's error answers."""
        try:
            with self.runtime.pubsub.write_lock, self.request.app.state.db.session() as session:
                return work(session, *args, **kwargs)
        except PubSubError as err:
            type_, status = KINDS[err.kind]
            raise _fail(type_, status, err.message, self.request) from err


def _call(request: Request, instanceId: str, memberClass: str, memberCode: str, applicationCode: str) -> Call:
    return Call(request, instanceId, memberClass, memberCode, applicationCode)


def _checked(call: Call, check: Callable[..., _T], *args: Any) -> _T:
    try:
        return check(*args)
    except PubSubError as err:
        type_, status = KINDS[err.kind]
        raise _fail(type_, status, err.message, call.request) from err


# ---- event types (room owner) --------------------------------------------------------------------


@router.post("/api/v1/eventType", summary="Create an event type in the room (room owner)")
def create_event_type(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    payload: dict[str, Any] = Body(...),
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    _checked(call, call.require_owner)
    event_type, schema = _checked(call, event_type_body, payload, call.runtime.settings)
    call.run(service.create_event_type, call.room, event_type, schema)
    call.runtime.reload()  # the event type's rights services exist from now on
    return JSONResponse({"eventType": event_type, "schema": schema}, status_code=200)


@router.get("/api/v1/eventType", summary="List the room's event types")
def list_event_types(
    request: Request, instanceId: str, memberClass: str, memberCode: str, applicationCode: str
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    names = call.run(service.list_event_types, call.room)
    return JSONResponse(names) if names else Response(status_code=204)


@router.get("/api/v1/eventType/{eventType}", summary="An event type and its JSON Schema")
def get_event_type(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    row = call.run(lambda s: service.get_event_type(s, call.room, eventType))
    if row is None:
        return Response(status_code=204)
    return JSONResponse({"eventType": row.event_type, "schema": json.loads(row.schema_json)})


@router.delete("/api/v1/eventType/{eventType}", status_code=204, summary="Delete an event type (room owner)")
def delete_event_type(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    _checked(call, call.require_owner)
    call.run(service.delete_event_type, call.room, eventType)
    call.runtime.reload()
    return Response(status_code=204)


# ---- publishing ----------------------------------------------------------------------------------


@router.post("/pub/v1/{eventType}", status_code=201, summary="Publish an event (stored before the answer)")
def publish(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    payload: dict[str, Any] = Body(...),
) -> JSONResponse:
    started, request_at = time.perf_counter(), datetime.now(UTC)
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    _checked(call, call.require_right, eventType, f"publish {eventType}")
    event, event_id = _checked(call, publish_body, payload, eventType, call.runtime.settings)
    # Checked before the publication's lock and transaction: a slow check holds up this publisher only.
    seconds = call.runtime.settings.pubsub_validation_seconds
    schema_json = service.cached_schema(call.room, eventType) or call.run(
        service.event_type_schema, call.room, eventType
    )
    _checked(call, service.validate_event, schema_json, event, seconds)
    publication = service.Publication(
        call.room, eventType, call.client, event, event_id, validated_against=schema_json, validation_seconds=seconds
    )
    published = _checked(call, call.runtime.pubsub.publisher.publish, publication)
    body = json.dumps({"id": published.event_id}).encode()
    if published.created:
        _log_publication(call, eventType, published.event_id, json.dumps(event).encode(), body, started, request_at)
    return JSONResponse({"id": published.event_id}, status_code=201)


def _log_publication(
    call: Call,
    event_type: str,
    event_id: str,
    request_body: bytes,
    response_body: bytes,
    started: float,
    request_at: datetime,
) -> None:
    """Metadata (publisher, time, type, hash) of every accepted event; the payload only if bodies are logged."""
    settings = call.runtime.settings
    record = {
        "message_id": event_id,
        "kind": "event",
        "client": call.client,
        "service": f"{call.room}/{event_type}",
        "method": "POST",
        "path": f"/pub/v1/{event_type}",
        "status": 201,
        "error_type": None,
        "request_at": request_at,
        "response_at": datetime.now(UTC),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "request_size": len(request_body),
        "response_size": len(response_body),
        "request_hash": hashlib.sha256(request_body).hexdigest(),
        "response_hash": hashlib.sha256(response_body).hexdigest(),
        "request_body": request_body[: settings.log_body_limit] if settings.log_bodies else None,
        "response_body": response_body if settings.log_bodies else None,
    }
    call.runtime.metrics.observe(record)
    call.runtime.writer.store_blocking(record)  # in the durable log before the publish is acknowledged


def _own_event(session: Session, call: Call, event_type: str, event_id: str) -> Event:
    event = service.find_event(session, call.room, event_type, event_id)
    if event.publisher != call.client and not call.owner:
        raise PubSubError(NOT_FOUND, f"unknown event {event_id}")  # another publisher's event is not disclosed
    return event


@router.get("/pub/v1/{eventType}/{eventId}", summary="Event status: delivered to N of M subscriptions, with detail")
def event_status(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    eventId: str,
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    return JSONResponse(call.run(lambda s: service.event_status(s, _own_event(s, call, eventType, eventId))))


@router.delete("/pub/v1/{eventType}/{eventId}", status_code=204, summary="Stop processing an event")
def cancel_event(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    eventId: str,
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    call.run(lambda s: service.cancel_event(s, _own_event(s, call, eventType, eventId)))
    return Response(status_code=204)


# ---- subscriptions -------------------------------------------------------------------------------


def _check_push_target(call: Call, fields: SubscriptionFields) -> None:
    """PUSH goes to a service of the subscriber's application, which must let the room call it."""
    if fields.delivery != "PUSH":
        return
    service_id = f"{call.client}/{fields.service_code}"
    entry = call.runtime.snapshot.services.get(service_id)
    if entry is None:
        raise PubSubError(BAD, f"PUSH target {service_id} is not a registered service")
    if call.room not in entry.allowed:
        raise PubSubError(BAD, f"PUSH target {service_id} does not grant the room {call.room} an access right")


def _subscription_or_404(session: Session, call: Call, event_type: str) -> Subscription:
    sub = service.active_subscription(session, call.room, event_type, call.client)
    if sub is None:
        raise PubSubError(NOT_FOUND, f"{call.client} has no subscription to {event_type}")
    return sub


@router.get("/api/v1/subs", summary="My subscriptions in the room")
def list_subscriptions(
    request: Request, instanceId: str, memberClass: str, memberCode: str, applicationCode: str
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    items = call.run(
        lambda s: [service.subscription_item(x) for x in service.list_subscriptions(s, call.room, call.client)]
    )
    return JSONResponse(items)


@router.post("/api/v1/subs/{eventType}", summary="Subscribe to an event type")
def subscribe(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    payload: dict[str, Any] = Body(default_factory=dict),
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    _checked(call, call.require_right, eventType + SUBSCRIBE_SUFFIX, f"subscribe to {eventType}")
    fields = _checked(call, subscription_body, payload, eventType, call.runtime.settings)
    _checked(call, _check_push_target, call, fields)
    item = call.run(
        lambda s: service.subscription_item(
            service.subscribe(s, call.room, eventType, call.client, **asdict(fields) | {"policy": fields.policy})
        )
    )
    return JSONResponse(item, status_code=200)


@router.get("/api/v1/subs/{eventType}", summary="My subscription to an event type")
def get_subscription(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    return JSONResponse(call.run(lambda s: service.subscription_item(_subscription_or_404(s, call, eventType))))


@router.patch("/api/v1/subs/{eventType}", status_code=201, summary="Change my subscription")
def patch_subscription(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    payload: dict[str, Any] = Body(...),
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)

    def work(session: Session) -> dict:
        sub = _subscription_or_404(session, call, eventType)
        current = SubscriptionFields(
            sub.delivery,
            sub.ttl,
            sub.fifo,
            sub.service_code,
            sub.path,
            RetryPolicy(sub.max_attempts, sub.min_backoff, sub.max_backoff),
        )
        fields = subscription_body(payload, eventType, call.runtime.settings, current)
        _check_push_target(call, fields)
        return service.subscription_item(
            service.update_subscription(session, sub, **asdict(fields) | {"policy": fields.policy})
        )

    item = call.run(work)
    call.runtime.pubsub.notify()
    return JSONResponse(item, status_code=201)


@router.delete("/api/v1/subs/{eventType}", status_code=204, summary="Unsubscribe")
def delete_subscription(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    call.run(lambda s: service.cancel_subscription(s, _subscription_or_404(s, call, eventType)))
    return Response(status_code=204)


# ---- PULL ----------------------------------------------------------------------------------------


def _pull_subscription(session: Session, call: Call, event_type: str) -> Subscription:
    sub = service.active_subscription(session, call.room, event_type, call.client)
    if sub is None or sub.delivery != "PULL":
        raise PubSubError(CONFLICT, f"{call.client} has no PULL subscription to {event_type}")
    return sub


@router.get("/pull/v1/{eventType}", summary="The next unacknowledged event of my PULL queue")
def pull(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
) -> JSONResponse:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)

    def work(session: Session) -> dict:
        event = service.next_pulled(session, _pull_subscription(session, call, eventType))
        if event is None:
            raise PubSubError(NOT_FOUND, "no event available")
        return service.event_item(event)

    return JSONResponse(call.run(work))


@router.delete("/pull/v1/{eventType}/{eventId}", status_code=204, summary="Acknowledge a pulled event")
def acknowledge(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    eventType: str,
    eventId: str,
) -> Response:
    call = _call(request, instanceId, memberClass, memberCode, applicationCode)
    call.run(lambda s: service.acknowledge(s, _pull_subscription(s, call, eventType), eventId))
    return Response(status_code=204)
