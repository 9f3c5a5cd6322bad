"""Notifications through the IM's pub/sub: every history entry with an audience is published as an event to
the room MUNICIPALITY/CONSTRUCTION-PERMIT; the room PUSHes it back to our `callbacks` service, where it
becomes the notifications each person or role reads. Publishing is an outbox: entries are published after
their transaction commits and again until the IM stores them (the entry id is the event id, so a retry
stores nothing twice)."""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.app import im_caller

from .models import HistoryEntry, Notification
from .settings import IM_CLIENT, ConstructionPermitSettings

log = logging.getLogger(__name__)
router = APIRouter(tags=["notifications (IM pub/sub)"])
# Events are published under the room: /r1/<room>/pub/v1/... ("pub" takes the place of a service code).
ROOM_PUB = IM_CLIENT + "/pub"


def event_id(entry: HistoryEntry) -> str:
    return f"cp-history-{entry.id}"


def publish_pending(app: FastAPI) -> int:
    """Publishes up to 20 unpublished entries (oldest first); returns how many the IM took."""
    settings: ConstructionPermitSettings = app.state.settings
    with app.state.db.session() as session:
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
            response = app.state.im.request_sync(
                ROOM_PUB,
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
        with app.state.db.session() as session:
            session.get(HistoryEntry, entry_id).event_id = eid
        published += 1
    return published


async def publisher(app: FastAPI, idle_seconds: float = 0.5) -> None:
    """Runs for the life of the process; a request that records an entry sets `app.state.publish_now`."""
    while True:
        try:
            await asyncio.to_thread(publish_pending, app)
        except Exception:  # keep publishing; the entries stay in the outbox
            log.exception("publishing notifications failed")
        try:
            await asyncio.wait_for(app.state.publish_now.wait(), idle_seconds * 10)
        except TimeoutError:
            pass
        app.state.publish_now.clear()
        await asyncio.sleep(idle_seconds / 5)


@router.post("/callbacks/events", summary="PUSH delivery from the IM room (each event at least once)")
async def receive_event(request: Request) -> JSONResponse:
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        return JSONResponse({"error": "unauthorized", "message": "events arrive only through the IM"}, 401)
    if caller.client != IM_CLIENT:
        return JSONResponse({"error": "forbidden", "message": "only our own room delivers here"}, 403)
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
        return JSONResponse({"error": "invalid_request", "message": "not an event of this room"}, 400)
    await run_in_threadpool(store, request.app, eid, rows)
    return JSONResponse({"received": eid}, 200)


def store(app: FastAPI, eid: str, rows: list[Notification]) -> None:
    """Idempotent (a redelivered event adds nothing), in a worker thread with its own transaction."""
    try:
        with app.state.db.session() as session:
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
