"""Notifications through the IM's pub/sub: every history entry with an audience is published as an event to
the room MUNICIPALITY/CONSTRUCTION-PERMIT; the room PUSHes it back to our `callbacks` service, where it
becomes the notifications each person or role reads. Publishing is an outbox: entries are published after
their transaction commits and again until the IM stores them (the entry id is the event id, so a retry
stores nothing twice)."""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.app import im_caller
from services.common.assertion import VerifiedCall
from services.common.database import Database
from services.common.errors import APIError
from services.common.im_client import IMClient
from services.common.outbox import PollingLoop
from usecases.common.schemas import AS_BUILT, CallbackAnswer

from .dependencies import Databases, Settings
from .models import HistoryEntry, Notification
from .settings import ConstructionPermitSettings

log = logging.getLogger(__name__)
router = APIRouter(tags=["notifications (IM pub/sub)"])
IDLE_SECONDS = 5  # between looks at the outbox when no request says there is news


def event_id(entry: HistoryEntry) -> str:
    return f"cp-history-{entry.id}"


def publish_pending(db: Database, im: IMClient, settings: ConstructionPermitSettings) -> int:
    """Publishes up to 20 unpublished entries (oldest first); returns how many the IM took."""
    with db.session() as session:
        pending = session.scalars(
            select(HistoryEntry).where(HistoryEntry.event_id.is_(None)).order_by(HistoryEntry.id).limit(20)
        ).all()
        work = [
            (
                e.id,
                event_id(e),
                {
                    "applicationId": e.application_id,
                    "action": e.action,
                    "state": e.to_state,
                    "text": e.summary,
                    "audiences": e.audiences,
                },
            )
            for e in pending
            if e.audiences
        ]
        for entry in pending:
            if not entry.audiences:
                entry.event_id = "-"  # nobody to tell
    published = 0
    for entry_id, eid, event in work:
        try:
            response = im.request_sync(
                settings.room + "/pub",  # events are published under the room: /r1/<room>/pub/v1/...
                "POST",
                f"/v1/{settings.event_type}",
                json={"eventType": settings.event_type, "event": event, "id": eid},
            )
        except httpx.HTTPError as exc:
            log.warning("notification not published yet (%s)", type(exc).__name__)
            break
        if response.status_code != 201:
            log.warning("the IM refused notification %s: HTTP %s", eid, response.status_code)
            break
        with db.session() as session:
            session.get(HistoryEntry, entry_id).event_id = eid
        published += 1
    return published


def publisher(db: Database, im: IMClient, settings: ConstructionPermitSettings) -> PollingLoop:
    """Runs for the life of the process; a request that records an entry wakes it (`WakePublisher`)."""
    return PollingLoop("permit-notifications", lambda: publish_pending(db, im, settings), IDLE_SECONDS)


async def from_our_room(request: Request, settings: Settings) -> VerifiedCall:
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        raise APIError(401, {"error": "unauthorized", "message": "events arrive only through the IM"})
    if caller.client != settings.room:
        raise APIError(403, {"error": "forbidden", "message": "only our own room delivers here"})
    return caller


async def room_event(
    request: Request, _: Annotated[VerifiedCall, Depends(from_our_room)]
) -> tuple[str, list[Notification]]:
    """The delivered event's id and a notification row for each of its audiences."""
    try:
        item = await request.json()
        eid = str(request.headers.get("X-GovStack-Event-Id") or item.get("id"))[:64]
        event = item["event"]
        rows = [
            Notification(
                event_id=eid,
                audience=str(a)[:220],
                application_id=str(event["applicationId"])[:20],
                text=str(event["text"])[:500],
            )
            for a in event["audiences"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise APIError(400, {"error": "invalid_request", "message": "not an event of this room"}) from None
    return eid, rows


@router.post(
    "/callbacks/events",
    summary="PUSH delivery from the IM room (each event at least once)",
    response_model=CallbackAnswer,
    **AS_BUILT,
)
def receive_event(event: Annotated[tuple[str, list[Notification]], Depends(room_event)], db: Databases) -> dict:
    eid, rows = event
    store(db, eid, rows)
    return {"received": eid}


def store(db: Database, eid: str, rows: list[Notification]) -> None:
    """Idempotent (a redelivered event adds nothing), in its own transaction."""
    try:
        with db.session() as session:
            known = set(session.scalars(select(Notification.audience).where(Notification.event_id == eid)))
            session.add_all([r for r in rows if r.audience not in known])
    except IntegrityError:
        pass  # the same event delivered twice at once: the other delivery stored it


def for_user(session: Session, audiences: list[str], limit: int = 50) -> list[Notification]:
    """Newest first, each event once even when it reached this person under several audiences (Maya as the
    applicant and as the architect, say)."""
    first_copies = (
        select(func.min(Notification.id)).where(Notification.audience.in_(audiences)).group_by(Notification.event_id)
    )
    return list(
        session.scalars(
            select(Notification).where(Notification.id.in_(first_copies)).order_by(Notification.id.desc()).limit(limit)
        )
    )
