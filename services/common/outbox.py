"""The durable outbox every service's background sender shares: rows claimed under a lease (so replicas and
restarts never send one twice at once), retried with capped exponential back-off, and calls toward the IM
sent with the service's IM identity.

A service keeps its own table (what a row carries differs: a Payments callback, a Consent webhook event, a
bill to mark paid), with an `id` and a `next_attempt_at` column, and runs its sender in a `PollingLoop`.
Pub/sub deliveries use `Backoff` only: they are claimed in batches on the event loop, for throughput.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from .clock import utcnow
from .im_client import IMClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Attempt n (1-based) failed: wait `base * 2**(n-1)` seconds, at most `cap`; give up after `max_attempts`."""

    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0)))

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def claim_due(
    session: Session, model: Any, pending: ColumnElement[bool], limit: int, lease_seconds: float
) -> list[Any]:
    """The ids of up to `limit` due rows (`pending` and `next_attempt_at` reached, oldest first), each leased by
    moving its next attempt `lease_seconds` ahead. A row another worker leased meanwhile is skipped: locked
    rows on PostgreSQL (SKIP LOCKED), and on every database the update only wins if the row is unchanged."""
    now = utcnow()
    lease: datetime = now + timedelta(seconds=lease_seconds)
    due = session.execute(
        select(model.id, model.next_attempt_at)
        .where(pending, model.next_attempt_at <= now)
        .order_by(model.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for row in due:
        won = session.execute(
            update(model)
            .where(model.id == row.id, model.next_attempt_at == row.next_attempt_at, pending)
            .values(next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won:
            claimed.append(row.id)
    return claimed


def im_headers(im: IMClient | None, url: str, message_id: str | None = None) -> dict[str, str]:
    """This service's IM identity and credential when `url` is a call through the IM, else nothing (a target
    outside the IM must never see the credential)."""
    if im is None or not url.startswith(im.im_url + "/r1/"):
        return {}
    return im.headers(message_id=message_id)


class PollingLoop:
    """A daemon thread that calls `step` until it reports no work, then sleeps `idle_seconds` or until woken.
    A failing step is logged and retried: the state it works from is in the database, unchanged."""

    def __init__(self, name: str, step: Callable[[], bool | int], idle_seconds: float):
        self.step = step
        self.idle_seconds = idle_seconds
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                busy = self.step()
            except Exception:
                log.exception("%s step failed", self.thread.name)
                busy = False
            if not busy:
                self.woken.wait(self.idle_seconds)
                self.woken.clear()

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self.woken.set()

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        self.woken.set()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)
