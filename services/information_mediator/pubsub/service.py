"""Database work of pub/sub: event types (with their registry services that carry the rights), publishing,
subscriptions, the PULL queue, event status, and the claim/record steps of the PUSH worker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from ..registry.models import Application, Service
from ..registry.service import find_application, instance
from . import validation
from .models import CANCELLED, DELIVERED, EXPIRED, FAILED, PENDING, Delivery, Event, EventType, Subscription

SUBSCRIBE_SUFFIX = ".subscribe"
SERVICE_URL_SCHEME = "pubsub:"  # event-type services are rights holders, not forwardable endpoints


class PubSubError(Exception):
    """`kind` is one of the names below; the views map it to a status and the IM error shape."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


BAD, NOT_FOUND, CONFLICT, FORBIDDEN = "bad", "not_found", "conflict", "forbidden"


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    row = EventType(room=room, event_type=event_type, schema_json=json.dumps(schema), created_at=now())
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
        .values(state=CANCELLED, last_error="event type deleted", updated_at=now())
    )
    session.execute(
        update(Subscription)
        .where(Subscription.room == room, Subscription.event_type == event_type, Subscription.cancelled_at.is_(None))
        .values(cancelled_at=now())
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
class Published:
    event: Event
    created: bool  # False when a retry named an event id that was already stored
    deliveries: int


def publish(
    session: Session,
    room: str,
    event_type_code: str,
    publisher: str,
    event: object,
    event_id: str | None = None,
    *,
    validated_against: str | None = None,
    validation_seconds: float = 1.0,
) -> Published:
    """`validated_against`: the schema the caller already checked `event` against, before taking the lock."""
    # The lock serialises publications of one event type, so sequence order is commit order (FIFO).
    event_type = get_event_type(session, room, event_type_code, lock=True)
    if event_type is None:
        raise PubSubError(NOT_FOUND, f"unknown event type {event_type_code} in room {room}")
    if event_id is not None:
        existing = session.scalar(select(Event).where(Event.event_id == event_id))
        if existing is not None:
            if (existing.room, existing.event_type, existing.publisher) != (room, event_type_code, publisher):
                raise PubSubError(CONFLICT, f"event id {event_id} is already used")
            return Published(existing, False, 0)
    if event_type.schema_json != validated_against:  # not checked yet, or the type was replaced since
        _schemas.pop((room, event_type_code), None)
        validate_event(event_type.schema_json, event, validation_seconds)
    at = now()
    row = Event(
        event_id=event_id or str(uuid.uuid4()),
        room=room,
        event_type=event_type_code,
        publisher=publisher,
        payload=json.dumps(event, separators=(",", ":")),
        published_at=at,
    )
    session.add(row)
    session.flush()
    subs = session.scalars(
        select(Subscription).where(
            Subscription.room == room, Subscription.event_type == event_type_code, Subscription.cancelled_at.is_(None)
        )
    )
    rows = [
        {
            "event_pk": row.id,
            "subscription_id": s.id,
            "sequence": row.id,
            "push": s.delivery == "PUSH",
            "fifo": s.fifo,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "expires_at": at + timedelta(seconds=s.ttl),
            "updated_at": at,
        }
        for s in subs
    ]
    if rows:
        session.execute(Delivery.__table__.insert(), rows)
    return Published(row, True, len(rows))


def find_event(session: Session, room: str, event_type: str, event_id: str) -> Event:
    row = session.scalar(
        select(Event).where(Event.event_id == event_id, Event.room == room, Event.event_type == event_type)
    )
    if row is None:
        raise PubSubError(NOT_FOUND, f"unknown event {event_id}")
    return row


def event_item(event: Event) -> dict:
    instance_id, member_class, member_code, application = split_room(event.publisher)
    return {
        "id": event.event_id,
        "sequence": event.id,
        "publisherId": {
            "instanceId": instance_id,
            "memberClass": member_class,
            "memberCode": member_code,
            "applicationCode": application,
        },
        "eventType": event.event_type,
        "event": json.loads(event.payload),
        "publishedAt": _aware(event.published_at).isoformat(),
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
                "deliveredAt": _aware(d.delivered_at).isoformat() if d.delivered_at else None,
                "nextAttemptAt": _aware(d.next_attempt_at).isoformat() if d.state == PENDING else None,
            }
        )
    status = dict(counts, subscriptions=len(rows))
    summary = f"delivered to {counts[DELIVERED]} of {len(rows)} subscriptions"
    return dict(
        event_item(event), cancelled=event.cancelled_at is not None, status=status, summary=summary, deliveries=detail
    )


def cancel_event(session: Session, event: Event) -> None:
    event.cancelled_at = event.cancelled_at or now()
    session.execute(
        update(Delivery)
        .where(Delivery.event_pk == event.id, Delivery.state == PENDING)
        .values(state=CANCELLED, last_error="publication deleted by its publisher", updated_at=now())
    )


# ---- subscriptions -------------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    max_attempts: int
    min_backoff: float
    max_backoff: float


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
    policy: RetryPolicy,
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
        min_backoff=policy.min_backoff,
        max_backoff=policy.max_backoff,
        created_at=now(),
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
    sub.cancelled_at = now()
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == PENDING)
        .values(state=CANCELLED, last_error="subscription cancelled", updated_at=now())
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
    delivery.updated_at = now()
    return session.get(Event, delivery.event_pk)


def acknowledge(session: Session, sub: Subscription, event_id: str) -> None:
    delivery = session.scalar(
        select(Delivery)
        .join(Event, Event.id == Delivery.event_pk)
        .where(Delivery.subscription_id == sub.id, Event.event_id == event_id, Delivery.state == PENDING)
    )
    if delivery is None:
        raise PubSubError(NOT_FOUND, f"no unacknowledged event {event_id} in this subscription")
    delivery.state, delivery.delivered_at, delivery.updated_at = DELIVERED, now(), now()


# ---- PUSH worker steps ---------------------------------------------------------------------------


def expire(session: Session, subscription_id: str | None = None) -> int:
    """Give up on pending deliveries whose TTL passed, recording why."""
    at = now()
    stmt = update(Delivery).where(Delivery.state == PENDING, Delivery.expires_at <= at)
    if subscription_id is not None:
        stmt = stmt.where(Delivery.subscription_id == subscription_id)
    reason = literal("gave up: TTL expired; last error: ") + func.coalesce(
        Delivery.last_error, "none (never attempted)"
    )
    stmt = stmt.values(state=EXPIRED, updated_at=at, lease_until=None, last_error=func.substr(reason, 1, 500))
    return session.execute(stmt).rowcount or 0


@dataclass
class Claimed:
    delivery_id: int
    attempts: int
    event: dict  # the EventItem body
    message_id: str
    room: str
    subscriber: str
    service_code: str
    path: str
    policy: RetryPolicy
    expires_at: datetime


def claim(session: Session, node: str, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease due PUSH deliveries. A FIFO subscription only ever offers its oldest pending delivery. On
    PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two replicas from claiming the same row; the lease keeps
    it claimed after this transaction commits."""
    at = now()
    head = aliased(Delivery)
    oldest = (
        select(func.min(head.sequence))
        .where(head.subscription_id == Delivery.subscription_id, head.state == PENDING)
        .correlate(Delivery)
        .scalar_subquery()
    )
    stmt = (
        select(Delivery)
        .where(
            Delivery.state == PENDING,
            Delivery.push.is_(True),
            Delivery.next_attempt_at <= at,
            (Delivery.lease_until.is_(None)) | (Delivery.lease_until < at),
            (Delivery.fifo.is_(False)) | (Delivery.sequence == oldest),
        )
        .order_by(Delivery.next_attempt_at, Delivery.sequence)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    deliveries = list(session.scalars(stmt))
    if not deliveries:
        return []
    lease = at + timedelta(seconds=lease_seconds)
    for d in deliveries:
        d.lease_until, d.leased_by = lease, node
    events = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_({d.event_pk for d in deliveries})))}
    subs = {
        s.id: s
        for s in session.scalars(
            select(Subscription).where(Subscription.id.in_({d.subscription_id for d in deliveries}))
        )
    }
    out = []
    for d in deliveries:
        s, e = subs[d.subscription_id], events[d.event_pk]
        out.append(
            Claimed(
                d.id,
                d.attempts,
                event_item(e),
                e.event_id,
                s.room,
                s.subscriber,
                s.service_code or s.event_type,
                s.path or "",
                RetryPolicy(s.max_attempts, s.min_backoff, s.max_backoff),
                _aware(d.expires_at),
            )
        )
    return out


@dataclass
class Outcome:
    claimed: Claimed
    status: int | None
    error: str | None  # None on success

    @property
    def ok(self) -> bool:
        return self.error is None


def backoff(policy: RetryPolicy, attempts: int) -> float:
    return min(policy.max_backoff, policy.min_backoff * (2 ** max(0, attempts - 1)))


def record_outcomes(session: Session, outcomes: list[Outcome]) -> None:
    """One executemany for the whole round: delivered, retry later, or given up (with the reason)."""
    at = now()
    rows = []
    for o in outcomes:
        c = o.claimed
        attempts = c.attempts + 1
        row = {
            "b_id": c.delivery_id,
            "attempts": attempts,
            "last_status": o.status,
            "updated_at": at,
            "state": PENDING,
            "delivered_at": None,
            "last_error": None,
            "next_attempt_at": at,
        }
        if o.ok:
            row.update(state=DELIVERED, delivered_at=at)
        elif attempts >= c.policy.max_attempts:
            row.update(state=FAILED, last_error=f"{o.error}; gave up after {attempts} attempts"[:500])
        else:
            row.update(last_error=o.error[:500], next_attempt_at=at + timedelta(seconds=backoff(c.policy, attempts)))
        rows.append(row)
    table = Delivery.__table__
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.state == PENDING)
        .values(lease_until=None, leased_by=None)
    )
    session.connection().execute(stmt, rows)


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
    policy: RetryPolicy,
) -> Subscription:
    sub.delivery, sub.ttl, sub.fifo, sub.service_code, sub.path = delivery, ttl, fifo, service_code, path
    sub.max_attempts, sub.min_backoff, sub.max_backoff = policy.max_attempts, policy.min_backoff, policy.max_backoff
    # Events already queued follow the new delivery mode and ordering.
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == sub.id, Delivery.state == PENDING)
        .values(push=delivery == "PUSH", fifo=fifo, next_attempt_at=now(), updated_at=now())
    )
    return sub
