"""Database work of pub/sub: event types (with their registry services that carry the rights), publishing,
subscriptions, the PULL queue, event status, and the claim/record steps of the PUSH worker."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, select, update
from sqlalchemy.orm import Session

from services.common.clock import as_utc, iso, utcnow
from services.common.outbox import Backoff

from ..proxy import errors
from ..proxy.errors import IMError
from ..registry.models import Application, Service
from ..registry.service import find_application, instance
from . import validation
from .models import CANCELLED, DELIVERED, EXPIRED, FAILED, PENDING, Delivery, Event, EventType, Subscription
from .rows import batch_statements

SUBSCRIBE_SUFFIX = ".subscribe"
SERVICE_URL_SCHEME = "pubsub:"  # event-type services are rights holders, not forwardable endpoints


class PubSubError(IMError):
    """A refusal of pub/sub; `kind` is one of the four below. Answered in the IM's error shape."""


BAD, NOT_FOUND, CONFLICT, FORBIDDEN = errors.BAD_REQUEST, errors.NOT_FOUND, errors.CONFLICT, errors.ACCESS_DENIED


def split_room(room: str) -> tuple[str, str, str, str]:
    instance_id, member_class, member_code, application = room.split("/")
    return instance_id, member_class, member_code, application


# ---- event types ---------------------------------------------------------------------------------


def room_application(session: Session, room: str) -> Application:
    instance_id, member_class, member_code, application = split_room(room)
    inst = instance(session)
    found = (
        find_application(session, member_class, member_code, application) if inst and inst.code == instance_id else None
    )
    if found is None:
        raise PubSubError(NOT_FOUND, f"unknown room {room}")
    return found


def check_schema(schema: object) -> None:
    try:
        validation.check_schema(schema)
    except validation.Refused as exc:
        raise PubSubError(BAD, str(exc)) from exc


def create_event_type(session: Session, room: str, event_type: str, schema: dict) -> EventType:
    check_schema(schema)
    application = room_application(session, room)
    if session.scalar(select(EventType).where(EventType.room == room, EventType.event_type == event_type)):
        raise PubSubError(CONFLICT, f"event type {event_type} already exists in room {room}")
    codes = {s.code for s in application.services}
    for code in (event_type, event_type + SUBSCRIBE_SUFFIX):
        if code not in codes:
            application.services.append(
                Service(
                    code=code,
                    service_url=f"{SERVICE_URL_SCHEME}{room}/{code}",
                    spec_url="",
                    enabled=True,
                    description=f"pub/sub event type {event_type}",
                )
            )
    instance(session).version += 1  # replicas reload the rights
    row = EventType(room=room, event_type=event_type, schema_json=json.dumps(schema), created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def list_event_types(session: Session, room: str) -> list[str]:
    return list(
        session.scalars(select(EventType.event_type).where(EventType.room == room).order_by(EventType.event_type))
    )


def get_event_type(session: Session, room: str, event_type: str, lock: bool = False) -> EventType | None:
    stmt = select(EventType).where(EventType.room == room, EventType.event_type == event_type)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def delete_event_type(session: Session, room: str, event_type: str) -> None:
    row = get_event_type(session, room, event_type)
    if row is None:
        raise PubSubError(NOT_FOUND, f"unknown event type {event_type}")
    _schemas.pop((room, event_type), None)
    application = room_application(session, room)
    for service in list(application.services):
        if service.code in (event_type, event_type + SUBSCRIBE_SUFFIX) and service.service_url.startswith(
            SERVICE_URL_SCHEME
        ):
            application.services.remove(service)
    instance(session).version += 1
    subs = select(Subscription.id).where(Subscription.room == room, Subscription.event_type == event_type)
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id.in_(subs), Delivery.state == PENDING)
        .values(state=CANCELLED, last_error="event type deleted", updated_at=utcnow())
    )
    session.execute(
        update(Subscription)
        .where(Subscription.room == room, Subscription.event_type == event_type, Subscription.cancelled_at.is_(None))
        .values(cancelled_at=utcnow())
    )
    session.delete(row)


# ---- publishing ----------------------------------------------------------------------------------


# (room, event type) -> its schema, to validate before publish() without a transaction of its own. An entry
# gone stale (type deleted and created again, another IM's database) is caught by publish().
_schemas: dict[tuple[str, str], str] = {}
MAX_CACHED_SCHEMAS = 1024


def cached_schema(room: str, event_type_code: str) -> str | None:
    return _schemas.get((room, event_type_code))


def event_type_schema(session: Session, room: str, event_type_code: str) -> str:
    event_type = get_event_type(session, room, event_type_code)
    if event_type is None:
        raise PubSubError(NOT_FOUND, f"unknown event type {event_type_code} in room {room}")
    if len(_schemas) >= MAX_CACHED_SCHEMAS:
        _schemas.clear()
    _schemas[(room, event_type_code)] = event_type.schema_json
    return event_type.schema_json


def validate_event(schema_json: str, event: object, seconds: float) -> None:
    """Outside any lock or transaction where possible: a check may take up to `seconds`."""
    try:
        validation.validate(schema_json, event, seconds)
    except validation.Refused as exc:
        raise PubSubError(BAD, str(exc)) from exc


@dataclass
class Publication:
    """One publish request. `validated_against`: the schema the caller already checked `event` against."""

    room: str
    event_type: str
    publisher: str
    event: object
    event_id: str | None = None
    validated_against: str | None = None
    validation_seconds: float = 1.0
    payload: str | None = None  # `event` as JSON, when the caller has it already


@dataclass
class Published:
    event_id: str
    created: bool  # False when a retry named an event id that was already stored
    deliveries: int
    leased: list[Claimed] = field(default_factory=list)  # PUSH deliveries leased to this node at once


def publish_batch(
    session: Session, items: list[Publication], node: str | None, lease_seconds: float
) -> list[Published | PubSubError]:
    """Stores many publications in one transaction (SQLAlchemy Core): their events, and one delivery per
    active subscription. With a `node`, non-FIFO PUSH deliveries are stored already leased to it, and it
    sends them without claiming them first; the others wait for a claim or a pull."""
    types = _lock_event_types(session, {(p.room, p.event_type) for p in items})
    stored = _stored_ids(session, [p.event_id for p in items if p.event_id is not None])
    at = utcnow()
    results: list[Published | PubSubError] = []
    new: list[tuple[int, Publication, dict]] = []
    for index, p in enumerate(items):
        try:
            results.append(_check_publication(p, types, stored))
        except PubSubError as err:
            results.append(err)
            continue
        if results[-1] is None:
            event_id = p.event_id or str(uuid.uuid4())
            stored[event_id] = (p.room, p.event_type, p.publisher)  # a retry within this batch
            row = {"event_id": event_id, "room": p.room, "event_type": p.event_type, "publisher": p.publisher}
            row |= {"payload": p.payload or json.dumps(p.event, separators=(",", ":")), "published_at": at}
            new.append((index, p, row))
    if new:
        _store_events(session, new, results, at, node, lease_seconds)
    return results


def _lock_event_types(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(room, type) -> schema, the rows locked in id order: publications of one type are serialised, so
    sequence order is commit order (FIFO), and two nodes lock in the same order."""
    conn = session.connection()
    return batch_statements(conn.dialect).lock_event_types(conn, sorted(keys))


def _stored_ids(session: Session, event_ids: list[str]) -> dict[str, tuple[str, str, str]]:
    if not event_ids:
        return {}
    conn = session.connection()
    return batch_statements(conn.dialect).stored_ids(conn, event_ids)


def _check_publication(
    p: Publication, types: dict[tuple[str, str], str], stored: dict[str, tuple[str, str, str]]
) -> Published | None:
    """None when `p` is to be stored; Published(created=False) for a retry of a stored event."""
    schema_json = types.get((p.room, p.event_type))
    if schema_json is None:
        raise PubSubError(NOT_FOUND, f"unknown event type {p.event_type} in room {p.room}")
    if p.event_id in stored:
        if stored[p.event_id] != (p.room, p.event_type, p.publisher):
            raise PubSubError(CONFLICT, f"event id {p.event_id} is already used")
        return Published(p.event_id, False, 0)
    if schema_json != p.validated_against:  # not checked yet, or the type was replaced since
        _schemas.pop((p.room, p.event_type), None)
        validate_event(schema_json, p.event, p.validation_seconds)
    return None


def _store_events(
    session: Session,
    new: list[tuple[int, Publication, dict]],
    results: list[Published | PubSubError],
    at: datetime,
    node: str | None,
    lease_seconds: float,
) -> None:
    conn = session.connection()
    inserts = batch_statements(conn.dialect)
    pks = inserts.events.ids(conn, [row for _, _, row in new])
    subs = _active_subscriptions(session, {(p.room, p.event_type) for _, p, _ in new})
    lease = at + timedelta(seconds=lease_seconds)
    rows, leased = [], []  # leased: (result index, subscription, EventItem, index in rows)
    for (index, p, event_row), pk in zip(new, pks, strict=True):
        targets = subs.get((p.room, p.event_type), [])
        results[index] = Published(event_row["event_id"], True, len(targets))
        body = None
        for s in targets:
            at_once = node is not None and s.delivery == "PUSH" and not s.fifo
            if at_once:
                body = body or EventBody.of(_item(event_row["event_id"], pk, p.publisher, p.event_type, p.event, at))
                leased.append((index, s, body, len(rows)))
            rows.append(
                {
                    "event_pk": pk,
                    "subscription_id": s.id,
                    "sequence": pk,
                    "push": s.delivery == "PUSH",
                    "fifo": s.fifo,
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "expires_at": at + timedelta(seconds=s.ttl),
                    "updated_at": at,
                    "lease_until": lease if at_once else None,
                    "leased_by": node if at_once else None,
                }
            )
    if not rows:
        return
    ids = inserts.deliveries.ids(conn, rows)
    for index, s, body, row in leased:
        results[index].leased.append(_claimed(ids[row], 0, body, s, rows[row]["expires_at"]))


def _active_subscriptions(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list]:
    conn = session.connection()
    return batch_statements(conn.dialect).active_subscriptions(conn, sorted(keys))


def find_event(session: Session, room: str, event_type: str, event_id: str) -> Event:
    row = session.scalar(
        select(Event).where(Event.event_id == event_id, Event.room == room, Event.event_type == event_type)
    )
    if row is None:
        raise PubSubError(NOT_FOUND, f"unknown event {event_id}")
    return row


def event_item(event: Event) -> dict:
    """The spec's EventItem of a stored event (an ORM row or a Core row of the event table)."""
    return _item(
        event.event_id, event.id, event.publisher, event.event_type, json.loads(event.payload), event.published_at
    )


def _item(event_id: str, sequence: int, publisher: str, event_type: str, event: object, published_at: datetime) -> dict:
    instance_id, member_class, member_code, application = split_room(publisher)
    return {
        "id": event_id,
        "sequence": sequence,
        "publisherId": {
            "instanceId": instance_id,
            "memberClass": member_class,
            "memberCode": member_code,
            "applicationCode": application,
        },
        "eventType": event_type,
        "event": event,
        "publishedAt": iso(published_at),
    }


def event_status(session: Session, event: Event) -> dict:
    rows = session.execute(
        select(Delivery, Subscription)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.event_pk == event.id)
        .order_by(Subscription.created_at)
    ).all()
    counts = {state: 0 for state in (PENDING, DELIVERED, FAILED, EXPIRED, CANCELLED)}
    detail = []
    for d, s in rows:
        counts[d.state] += 1
        detail.append(
            {
                "subscriptionId": s.id,
                "subscriber": s.subscriber,
                "delivery": s.delivery,
                "state": d.state,
                "attempts": d.attempts,
                "lastStatus": d.last_status,
                "lastError": d.last_error,
                "deliveredAt": iso(d.delivered_at),
                "nextAttemptAt": iso(d.next_attempt_at) if d.state == PENDING else None,
            }
        )
    status = dict(counts, subscriptions=len(rows))
    summary = f"delivered to {counts[DELIVERED]} of {len(rows)} subscriptions"
    return dict(
        event_item(event), cancelled=event.cancelled_at is not None, status=status, summary=summary, deliveries=detail
    )


def cancel_event(session: Session, event: Event) -> None:
    event.cancelled_at = event.cancelled_at or utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.event_pk == event.id, Delivery.state == PENDING)
        .values(state=CANCELLED, last_error="publication deleted by its publisher", updated_at=utcnow())
    )


# ---- subscriptions -------------------------------------------------------------------------------


def retry_policy(sub: Any) -> Backoff:
    """A subscription's retries (`sub`: a row or an object with its columns)."""
    return Backoff(sub.min_backoff, sub.max_backoff, sub.max_attempts)


def active_subscription(session: Session, room: str, event_type: str, subscriber: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.room == room,
            Subscription.event_type == event_type,
            Subscription.subscriber == subscriber,
            Subscription.cancelled_at.is_(None),
        )
    )


def subscribe(
    session: Session,
    room: str,
    event_type: str,
    subscriber: str,
    *,
    delivery: str,
    ttl: int,
    fifo: bool,
    service_code: str | None,
    path: str,
    policy: Backoff,
) -> Subscription:
    if get_event_type(session, room, event_type) is None:
        raise PubSubError(NOT_FOUND, f"unknown event type {event_type} in room {room}")
    if active_subscription(session, room, event_type, subscriber) is not None:
        raise PubSubError(CONFLICT, f"{subscriber} already subscribes to {event_type}")
    row = Subscription(
        id=str(uuid.uuid4()),
        room=room,
        event_type=event_type,
        subscriber=subscriber,
        delivery=delivery,
        ttl=ttl,
        fifo=fifo,
        service_code=service_code,
        path=path,
        max_attempts=policy.max_attempts,
        min_backoff=policy.base_seconds,
        max_backoff=policy.cap_seconds,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_subscriptions(session: Session, room: str, subscriber: str) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.room == room, Subscription.subscriber == subscriber, Subscription.cancelled_at.is_(None)
            )
            .order_by(Subscription.event_type)
        )
    )


def cancel_subscription(session: Session, sub: Subscription) -> None:
    sub.cancelled_at = utcnow()
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == PENDING)
        .values(state=CANCELLED, last_error="subscription cancelled", updated_at=utcnow())
    )


def subscription_item(sub: Subscription) -> dict:
    instance_id, member_class, member_code, application = split_room(sub.subscriber)
    item = {
        "id": sub.id,
        "subscriberId": {
            "instanceId": instance_id,
            "memberClass": member_class,
            "memberCode": member_code,
            "applicationCode": application,
        },
        "eventType": sub.event_type,
        "delivery": sub.delivery,
        "options": {
            "TTL": sub.ttl,
            "FIFO": sub.fifo,
            "maxAttempts": sub.max_attempts,
            "minBackoff": sub.min_backoff,
            "maxBackoff": sub.max_backoff,
        },
    }
    if sub.delivery == "PUSH":
        item["serviceCode"] = sub.service_code
        item["path"] = sub.path
    return item


# ---- PULL ----------------------------------------------------------------------------------------


def next_pulled(session: Session, sub: Subscription) -> Event | None:
    """The oldest unacknowledged, unexpired event of the queue (it stays at the head until acknowledged)."""
    expire(session, sub.id)
    delivery = session.scalar(
        select(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == PENDING)
        .order_by(Delivery.sequence)
        .limit(1)
    )
    if delivery is None:
        return None
    delivery.attempts += 1
    delivery.updated_at = utcnow()
    return session.get(Event, delivery.event_pk)


def acknowledge(session: Session, sub: Subscription, event_id: str) -> None:
    delivery = session.scalar(
        select(Delivery)
        .join(Event, Event.id == Delivery.event_pk)
        .where(Delivery.subscription_id == sub.id, Event.event_id == event_id, Delivery.state == PENDING)
    )
    if delivery is None:
        raise PubSubError(NOT_FOUND, f"no unacknowledged event {event_id} in this subscription")
    delivery.state, delivery.delivered_at, delivery.updated_at = DELIVERED, utcnow(), utcnow()


# ---- PUSH worker steps ---------------------------------------------------------------------------


def expire(session: Session, subscription_id: str | None = None) -> int:
    """Give up on pending deliveries whose TTL passed, recording why."""
    at = utcnow()
    stmt = update(Delivery).where(Delivery.state == PENDING, Delivery.expires_at <= at)
    if subscription_id is not None:
        stmt = stmt.where(Delivery.subscription_id == subscription_id)
    reason = literal("gave up: TTL expired; last error: ") + func.coalesce(
        Delivery.last_error, "none (never attempted)"
    )
    stmt = stmt.values(state=EXPIRED, updated_at=at, lease_until=None, last_error=func.substr(reason, 1, 500))
    return session.execute(stmt).rowcount or 0


@dataclass(frozen=True)
class EventBody:
    """A PUSH request's body (the EventItem as JSON) and its SHA-256: made once per event, shared by the
    deliveries of its subscriptions."""

    item: dict
    json: bytes
    sha256: str

    @classmethod
    def of(cls, item: dict) -> EventBody:
        body = json.dumps(item, separators=(",", ":")).encode()
        return cls(item, body, hashlib.sha256(body).hexdigest())


@dataclass
class Claimed:
    delivery_id: int
    attempts: int
    body: EventBody
    message_id: str
    room: str
    subscriber: str
    service_code: str
    path: str
    policy: Backoff
    expires_at: datetime
    fifo: bool = False


def _claimed(delivery_id: int, attempts: int, body: EventBody, sub: Any, expires_at: datetime) -> Claimed:
    """`sub`: a subscription row (Core) or object."""
    return Claimed(
        delivery_id,
        attempts,
        body,
        body.item["id"],
        sub.room,
        sub.subscriber,
        sub.service_code or sub.event_type,
        sub.path or "",
        retry_policy(sub),
        as_utc(expires_at),
        sub.fifo,
    )


def claim(session: Session, node: str, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease due PUSH deliveries (those not leased at publication: FIFO ones, retries, leases run out). A
    FIFO subscription only ever offers its oldest pending delivery. On PostgreSQL `FOR UPDATE SKIP LOCKED`
    keeps two nodes from claiming the same row; the lease keeps it claimed after this transaction commits."""
    at = utcnow()
    d, e, s = Delivery.__table__.c, Event.__table__.c, Subscription.__table__.c
    head = Delivery.__table__.alias("head")
    oldest = (
        select(func.min(head.c.sequence))
        .where(head.c.subscription_id == d.subscription_id, head.c.state == PENDING)
        .correlate(Delivery.__table__)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            d.id.label("delivery_id"),
            d.attempts,
            d.expires_at,
            e.event_id,
            e.id,
            e.publisher,
            e.event_type,
            e.payload,
            e.published_at,
            s.room,
            s.subscriber,
            s.service_code,
            s.path,
            s.max_attempts,
            s.min_backoff,
            s.max_backoff,
            s.fifo,
        )
        .join(Event.__table__, e.id == d.event_pk)
        .join(Subscription.__table__, s.id == d.subscription_id)
        .where(
            d.state == PENDING,
            d.push.is_(True),
            d.next_attempt_at <= at,
            d.lease_until.is_(None) | (d.lease_until < at),
            d.fifo.is_(False) | (d.sequence == oldest),
        )
        .order_by(d.next_attempt_at, d.sequence)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery.__table__)
    ).all()
    if not rows:
        return []
    lease = at + timedelta(seconds=lease_seconds)
    session.execute(
        update(Delivery.__table__)
        .where(d.id.in_([r.delivery_id for r in rows]))
        .values(lease_until=lease, leased_by=node)
    )
    bodies: dict[int, EventBody] = {}  # per event: FIFO and retried deliveries of one event share it
    return [
        _claimed(
            r.delivery_id,
            r.attempts,
            bodies.get(r.id) or bodies.setdefault(r.id, EventBody.of(event_item(r))),
            r,
            r.expires_at,
        )
        for r in rows
    ]


@dataclass
class Outcome:
    claimed: Claimed
    status: int | None
    error: str | None  # None on success

    @property
    def ok(self) -> bool:
        return self.error is None


def record_outcomes(session: Session, outcomes: list[Outcome]) -> None:
    """Delivered ones in one UPDATE per status; retries and give-ups in one executemany."""
    at = utcnow()
    done: dict[int | None, list[int]] = {}
    rows = []  # (id, attempts, last_status, updated_at, state, last_error, next_attempt_at)
    for o in outcomes:
        c = o.claimed
        attempts = c.attempts + 1
        if o.ok:
            done.setdefault(o.status, []).append(c.delivery_id)
        elif c.policy.gives_up(attempts):
            error = f"{o.error}; gave up after {attempts} attempts"[:500]
            rows.append((c.delivery_id, attempts, o.status, at, FAILED, error, at))
        else:
            rows.append((c.delivery_id, attempts, o.status, at, PENDING, o.error[:500], at + c.policy.delay(attempts)))
    conn = session.connection()
    statements = batch_statements(conn.dialect)
    for status, ids in done.items():
        statements.delivered(conn, ids, status, at)
    if rows:
        statements.attempted(conn, rows)


def release(session: Session, delivery_ids: list[int]) -> None:
    """Give back leases of deliveries not attempted (shutdown), so another node need not wait them out."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.state == PENDING)
            .values(lease_until=None, leased_by=None)
        )


def next_due(session: Session) -> datetime | None:
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(and_(Delivery.state == PENDING, Delivery.push.is_(True)))
    )


def update_subscription(
    session: Session,
    sub: Subscription,
    *,
    delivery: str,
    ttl: int,
    fifo: bool,
    service_code: str | None,
    path: str,
    policy: Backoff,
) -> Subscription:
    sub.delivery, sub.ttl, sub.fifo, sub.service_code, sub.path = delivery, ttl, fifo, service_code, path
    sub.max_attempts, sub.min_backoff, sub.max_backoff = policy.max_attempts, policy.base_seconds, policy.cap_seconds
    # Events already queued follow the new delivery mode and ordering.
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == PENDING)
        .values(push=delivery == "PUSH", fifo=fifo, next_attempt_at=utcnow(), updated_at=utcnow())
    )
    return sub
