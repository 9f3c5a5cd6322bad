"""Record and read a resident's service history (the spec's events, `/events/{eventId}`, `/service-history`)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.clock import iso
from services.identity.credentials.models import ResidentEvent

# The spec's serviceType values and the event types recorded under each.
SERVICE_TYPES = {
    "AUTHENTICATION_REQUEST": ("LOGIN",),
    "SERVICE_REQUEST": ("DOWNLOAD_PERSONALIZED_CARD",),
    "DATA_UPDATE_REQUEST": ("UPDATE_MY_UIN", "UPDATE_IDENTITY"),
    "ID_MANAGEMENT_REQUEST": ("AUTH_TYPE_LOCK_UNLOCK",),
    "DATA_SHARE_REQUEST": ("SHARE_CRED_WITH_PARTNER",),
}
SERVICE_TYPE_OF = {event: service for service, events in SERVICE_TYPES.items() for event in events}
STATUSES = ("SUCCESS", "IN_PROGRESS", "FAILED")


def record(
    session: Session,
    identity_id: int,
    event_type: str,
    summary: str,
    *,
    actor: str,
    info: dict[str, Any] | None = None,
    status: str = "SUCCESS",
) -> ResidentEvent:
    """A new event with a random 16-digit id (the spec's eventId)."""
    while True:
        event_id = f"{secrets.randbelow(9 * 10**15) + 10**15}"
        if session.get(ResidentEvent, event_id) is None:
            break
    event = ResidentEvent(
        event_id=event_id,
        identity_id=identity_id,
        event_type=event_type,
        status=status,
        summary=summary[:256],
        info=info or {},
        actor=actor[:128],
    )
    session.add(event)
    return event


def find(session: Session, identity_id: int, event_id: str) -> ResidentEvent | None:
    """The resident's own event; another resident's is as unknown as a made-up id."""
    event = session.get(ResidentEvent, event_id) if event_id.isdigit() and len(event_id) == 16 else None
    return event if event is not None and event.identity_id == identity_id else None


def page(
    session: Session,
    identity_id: int,
    *,
    since: datetime,
    until: datetime,
    event_types: tuple[str, ...] | None,
    statuses: tuple[str, ...] | None,
    search: str,
    descending: bool,
    start: int,
    size: int,
) -> tuple[list[ResidentEvent], int]:
    """One page of the resident's events and the number of all that match."""
    query = select(ResidentEvent).where(
        ResidentEvent.identity_id == identity_id,
        ResidentEvent.created_at >= since,
        ResidentEvent.created_at <= until,
    )
    if event_types is not None:
        query = query.where(ResidentEvent.event_type.in_(event_types))
    if statuses is not None:
        query = query.where(ResidentEvent.status.in_(statuses))
    if search:
        query = query.where(ResidentEvent.event_id.contains(search, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = ResidentEvent.created_at.desc() if descending else ResidentEvent.created_at.asc()
    rows = session.scalars(query.order_by(order, ResidentEvent.event_id).offset(start * size).limit(size))
    return list(rows), total


def latest(session: Session, identity_id: int, limit: int) -> list[ResidentEvent]:
    query = select(ResidentEvent).where(ResidentEvent.identity_id == identity_id)
    return list(session.scalars(query.order_by(ResidentEvent.created_at.desc()).limit(limit)))


def as_json(event: ResidentEvent) -> dict[str, Any]:
    return {
        "eventId": event.event_id,
        "eventType": event.event_type,
        "eventStatus": event.status,
        "summary": event.summary,
        "timestamp": iso(event.created_at, "milliseconds"),
        "info": event.info,
    }
