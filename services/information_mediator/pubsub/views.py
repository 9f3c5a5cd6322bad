"""The PubSub API (`GovStack_IM_PubSub_API.yaml`) under `/r1/{instance}/{class}/{member}/{application}/`,
where the application is the room. Every call authenticates its client like any IM call (the `Room`
dependency); refusals are `PubSubError`s, answered in the IM's error shape."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.clock import utcnow

from ..dependencies import Room, RoomCall, Settings
from ..messagelog.record import event_record
from ..messagelog.writer import StoreError
from ..proxy.errors import LOG_FAILURE, TIMEOUT, IMError
from . import service
from .models import Event, Subscription
from .schemas import (
    EventItem,
    EventStatus,
    EventType,
    EventTypeBody,
    PublishEvent,
    PublishEventResult,
    SubscriptionBody,
    SubscriptionFields,
    SubscriptionItem,
)
from .service import BAD, CONFLICT, NOT_FOUND, SUBSCRIBE_SUFFIX, PubSubError, retry_policy

ROOM = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}"
# Where publications are checked (size, schema): as many threads as FastAPI's pool had for them.
CHECKS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="im-pubsub-check")
router = APIRouter(prefix=ROOM, tags=["Pub/Sub"])


# Checked before the body is read: a caller without the right learns nothing about its body.
async def _room_owner(call: Room) -> RoomCall:
    call.require_owner()
    return call


async def _publisher(call: Room, eventType: str) -> RoomCall:
    may_publish(call, eventType)
    return call


def may_publish(call: RoomCall, event_type: str) -> None:
    call.require_right(event_type, f"publish {event_type}")


async def _subscriber(call: Room, eventType: str) -> RoomCall:
    call.require_right(eventType + SUBSCRIBE_SUFFIX, f"subscribe to {eventType}")
    return call


RoomOwner = Annotated[RoomCall, Depends(_room_owner)]
Publisher = Annotated[RoomCall, Depends(_publisher)]
Subscriber = Annotated[RoomCall, Depends(_subscriber)]


# ---- event types (room owner) --------------------------------------------------------------------


@router.post("/api/v1/eventType", response_model=EventType, summary="Create an event type in the room (room owner)")
def create_event_type(call: RoomOwner, body: EventTypeBody, settings: Settings) -> JSONResponse:
    event_type, schema = body.bounded(settings)
    call.run(service.create_event_type, call.room, event_type, schema)
    call.runtime.reload()  # the event type's rights services exist from now on
    return JSONResponse({"eventType": event_type, "schema": schema}, status_code=200)


@router.get(
    "/api/v1/eventType",
    response_model=list[str],
    responses={204: {"description": "no event type in the room"}},
    summary="List the room's event types",
)
def list_event_types(call: Room) -> Response:
    names = call.run(service.list_event_types, call.room)
    return JSONResponse(names) if names else Response(status_code=204)


@router.get(
    "/api/v1/eventType/{eventType}",
    response_model=EventType,
    responses={204: {"description": "no such event type"}},
    summary="An event type and its JSON Schema",
)
def get_event_type(call: Room, eventType: str) -> Response:
    row = call.run(service.get_event_type, call.room, eventType)
    if row is None:
        return Response(status_code=204)
    return JSONResponse({"eventType": row.event_type, "schema": json.loads(row.schema_json)})


@router.delete("/api/v1/eventType/{eventType}", status_code=204, summary="Delete an event type (room owner)")
def delete_event_type(call: RoomOwner, eventType: str) -> Response:
    call.run(service.delete_event_type, call.room, eventType)
    call.runtime.reload()
    return Response(status_code=204)


# ---- publishing ----------------------------------------------------------------------------------


@router.post(
    "/pub/v1/{eventType}",
    status_code=201,
    response_model=PublishEventResult,
    summary="Publish an event (stored before the answer)",
)
async def publish(call: Publisher, eventType: str, body: PublishEvent) -> JSONResponse:
    # `PublishPath` (pubsub/publish_path.py) answers this operation ahead of routing; this route documents it
    # and answers the bodies that path leaves to FastAPI (not JSON, not an object).
    return JSONResponse(await publish_event(call, eventType, body), status_code=201)


async def publish_event(call: RoomCall, event_type: str, body: PublishEvent) -> dict:
    """The answer (`{"id"}`) once the event and its deliveries are stored and the publication is logged."""
    started, request_at = time.perf_counter(), utcnow()
    # Checked in a thread, before the publication's lock and transaction: a slow check holds up this publisher
    # only. Threads of their own (CHECKS): a cheaper hand-off than FastAPI's pool, whose threads stay free for the
    # sync routes. The request's context goes along, as FastAPI's pool takes it.
    check = functools.partial(contextvars.copy_context().run, _checked_publication, call, event_type, body)
    publication = await asyncio.get_running_loop().run_in_executor(CHECKS, check)
    try:
        published = await call.runtime.pubsub.publisher.publish(publication)
    except TimeoutError as exc:  # the database is stuck; the publication may still be stored later
        raise IMError(TIMEOUT, "the publication was not stored in time; retry with the same id") from exc
    answer = {"id": published.event_id}
    # A retry is logged too: it is an exchange of its own, and the first try's record may have failed.
    await _log_publication(call, event_type, published.event_id, publication.payload, answer, started, request_at)
    return answer


def _checked_publication(call: RoomCall, event_type: str, body: PublishEvent) -> service.Publication:
    settings = call.runtime.settings
    event, event_id, payload = body.bounded(event_type, settings)
    seconds = settings.pubsub_validation_seconds
    schema_json = service.cached_schema(call.room, event_type) or call.run(
        service.event_type_schema, call.room, event_type
    )
    service.validate_event(schema_json, event, seconds)
    return service.Publication(
        call.room,
        event_type,
        call.client,
        event,
        event_id,
        validated_against=schema_json,
        validation_seconds=seconds,
        payload=payload,
    )


async def _log_publication(
    call: RoomCall, event_type: str, event_id: str, payload: str, answer: dict, started: float, request_at: datetime
) -> None:
    """Metadata (publisher, time, type, hash) of every accepted event; the payload only if bodies are logged."""
    settings = call.runtime.settings
    record = event_record(
        message_id=event_id,
        client=call.client,
        service=f"{call.room}/{event_type}",
        path=f"/pub/v1/{event_type}",
        status=201,
        error_type=None,
        request_at=request_at,
        started=started,
        request=payload.encode(),
        response=json.dumps(answer).encode(),
        body_limit=settings.log_body_limit if settings.log_bodies else None,
    )
    call.runtime.metrics.observe(record)
    try:
        await call.runtime.writer.store(record)  # in the durable log before the publish is acknowledged
    except StoreError as exc:  # the event is stored; a retry naming its id is logged, not stored again
        raise IMError(LOG_FAILURE, "the publication could not be written to the message log; retry") from exc


def _own_event(session: Session, call: RoomCall, event_type: str, event_id: str) -> Event:
    event = service.find_event(session, call.room, event_type, event_id)
    if event.publisher != call.client and not call.owner:
        raise PubSubError(NOT_FOUND, f"unknown event {event_id}")  # another publisher's event is not disclosed
    return event


@router.get(
    "/pub/v1/{eventType}/{eventId}",
    response_model=EventStatus,
    summary="Event status: delivered to N of M subscriptions, with detail",
)
def event_status(call: Room, eventType: str, eventId: str) -> JSONResponse:
    return JSONResponse(call.run(lambda s: service.event_status(s, _own_event(s, call, eventType, eventId))))


@router.delete("/pub/v1/{eventType}/{eventId}", status_code=204, summary="Stop processing an event")
def cancel_event(call: Room, eventType: str, eventId: str) -> Response:
    call.run(lambda s: service.cancel_event(s, _own_event(s, call, eventType, eventId)))
    return Response(status_code=204)


# ---- subscriptions -------------------------------------------------------------------------------


def _check_push_target(call: RoomCall, fields: SubscriptionFields) -> None:
    """PUSH goes to a service of the subscriber's application, which must let the room call it."""
    if fields.delivery != "PUSH":
        return
    service_id = f"{call.client}/{fields.service_code}"
    entry = call.runtime.snapshot.services.get(service_id)
    if entry is None:
        raise PubSubError(BAD, f"PUSH target {service_id} is not a registered service")
    if call.room not in entry.allowed:
        raise PubSubError(BAD, f"PUSH target {service_id} does not grant the room {call.room} an access right")


def _subscription_or_404(session: Session, call: RoomCall, event_type: str) -> Subscription:
    sub = service.active_subscription(session, call.room, event_type, call.client)
    if sub is None:
        raise PubSubError(NOT_FOUND, f"{call.client} has no subscription to {event_type}")
    return sub


def _stored(fields: SubscriptionFields) -> dict:
    """The keyword arguments of `service.subscribe` / `update_subscription`."""
    return asdict(fields) | {"policy": fields.policy}


@router.get("/api/v1/subs", response_model=list[SubscriptionItem], summary="My subscriptions in the room")
def list_subscriptions(call: Room) -> JSONResponse:
    items = call.run(
        lambda s: [service.subscription_item(x) for x in service.list_subscriptions(s, call.room, call.client)]
    )
    return JSONResponse(items)


@router.post("/api/v1/subs/{eventType}", response_model=SubscriptionItem, summary="Subscribe to an event type")
def subscribe(
    call: Subscriber, eventType: str, settings: Settings, body: SubscriptionBody | None = Body(None)
) -> JSONResponse:
    fields = (body or SubscriptionBody()).merged(eventType, settings)
    _check_push_target(call, fields)
    item = call.run(
        lambda s: service.subscription_item(service.subscribe(s, call.room, eventType, call.client, **_stored(fields)))
    )
    return JSONResponse(item, status_code=200)


@router.get("/api/v1/subs/{eventType}", response_model=SubscriptionItem, summary="My subscription to an event type")
def get_subscription(call: Room, eventType: str) -> JSONResponse:
    return JSONResponse(call.run(lambda s: service.subscription_item(_subscription_or_404(s, call, eventType))))


@router.patch(
    "/api/v1/subs/{eventType}", status_code=201, response_model=SubscriptionItem, summary="Change my subscription"
)
def patch_subscription(call: Room, eventType: str, body: SubscriptionBody, settings: Settings) -> JSONResponse:
    def work(session: Session) -> dict:
        sub = _subscription_or_404(session, call, eventType)
        current = SubscriptionFields(sub.delivery, sub.ttl, sub.fifo, sub.service_code, sub.path, retry_policy(sub))
        fields = body.merged(eventType, settings, current)
        _check_push_target(call, fields)
        return service.subscription_item(service.update_subscription(session, sub, **_stored(fields)))

    item = call.run(work)
    call.runtime.pubsub.notify()
    return JSONResponse(item, status_code=201)


@router.delete("/api/v1/subs/{eventType}", status_code=204, summary="Unsubscribe")
def delete_subscription(call: Room, eventType: str) -> Response:
    call.run(lambda s: service.cancel_subscription(s, _subscription_or_404(s, call, eventType)))
    return Response(status_code=204)


# ---- PULL ----------------------------------------------------------------------------------------


def _pull_subscription(session: Session, call: RoomCall, event_type: str) -> Subscription:
    sub = service.active_subscription(session, call.room, event_type, call.client)
    if sub is None or sub.delivery != "PULL":
        raise PubSubError(CONFLICT, f"{call.client} has no PULL subscription to {event_type}")
    return sub


@router.get("/pull/v1/{eventType}", response_model=EventItem, summary="The next unacknowledged event of my PULL queue")
def pull(call: Room, eventType: str) -> JSONResponse:
    def work(session: Session) -> dict:
        event = service.next_pulled(session, _pull_subscription(session, call, eventType))
        if event is None:
            raise PubSubError(NOT_FOUND, "no event available")
        return service.event_item(event)

    return JSONResponse(call.run(work))


@router.delete("/pull/v1/{eventType}/{eventId}", status_code=204, summary="Acknowledge a pulled event")
def acknowledge(call: Room, eventType: str, eventId: str) -> Response:
    call.run(lambda s: service.acknowledge(s, _pull_subscription(s, call, eventType), eventId))
    return Response(status_code=204)
