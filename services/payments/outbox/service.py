"""Callbacks: enqueue in the caller's transaction, deliver in the background with exponential back-off.

Payloads are encrypted at rest (Fernet, key generated under the keys directory) because some carry voucher
numbers. A callback URL under the IM's `/r1/` is sent with this service's IM identity and credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.database import Database
from services.common.im_client import MESSAGE_ID_HEADER, IMClient
from services.common.keys import load_or_create_secret

from ..base import utcnow
from ..settings import PaymentsSettings
from .models import OutboxMessage

log = logging.getLogger(__name__)


@cache
def _fernet(keys_dir: Path) -> Fernet:
    secret = load_or_create_secret(keys_dir, "payments-outbox.key")
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def _json_default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)  # the wire format is a JSON number; the value itself was computed exactly
    raise TypeError(f"not serializable: {type(value)}")


def enqueue(
    session: Session,
    settings: PaymentsSettings,
    kind: str,
    target_url: str,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> OutboxMessage:
    body = json.dumps(payload, default=_json_default)
    message = OutboxMessage(
        kind=kind,
        target_url=target_url,
        method="POST",
        payload=_fernet(settings.keys_dir).encrypt(body.encode()).decode(),
        headers=json.dumps(headers) if headers else None,
        next_attempt_at=utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def decrypt_payload(settings: PaymentsSettings, message: OutboxMessage) -> str:
    return _fernet(settings.keys_dir).decrypt(message.payload.encode()).decode()


class CallbackSender:
    def __init__(self, db: Database, settings: PaymentsSettings, im: IMClient | None):
        self.db = db
        self.settings = settings
        self.im = im
        self.client = httpx.Client(timeout=settings.callback_timeout_seconds)

    def close(self) -> None:
        self.client.close()

    def backoff(self, attempts: int) -> timedelta:
        s = self.settings
        return timedelta(seconds=min(s.callback_backoff_cap_seconds, s.callback_backoff_seconds * 2 ** (attempts - 1)))

    def headers_for(self, message: OutboxMessage) -> dict[str, str]:
        stored = json.loads(message.headers) if message.headers else {}
        headers = {"Content-Type": "application/json", **stored}
        if self.im is not None and message.target_url.startswith(self.settings.im_url.rstrip("/") + "/r1/"):
            # A message id stored with the message ties the call to the action that queued it in the IM trace.
            headers.update(self.im.headers(message_id=stored.get(MESSAGE_ID_HEADER)))
        return headers

    def claim_due(self, limit: int = 20) -> list[OutboxMessage]:
        """Due messages, each claimed by pushing its next attempt past the send timeout (safe with replicas)."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.callback_timeout_seconds + 5)
        claimed = []
        with self.db.session() as session:
            due = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.dead.is_(False),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(limit)
            ).all()
            for message in due:
                won = session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.id, OutboxMessage.next_attempt_at == message.next_attempt_at)
                    .values(next_attempt_at=lease)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if won:
                    claimed.append(message)
        return claimed

    def send(self, message: OutboxMessage) -> None:
        error, status = None, None
        try:
            response = self.client.request(
                message.method,
                message.target_url,
                content=decrypt_payload(self.settings, message),
                headers=self.headers_for(message),
            )
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Exception as exc:  # noqa: BLE001 - any failure is recorded as this attempt's error
            error = f"{type(exc).__name__}: {exc}"[:500]
        self.record(message, status, error)

    def record(self, message: OutboxMessage, status: int | None, error: str | None) -> None:
        attempts = message.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error}
        if error is None:
            values["delivered_at"] = utcnow()
        elif attempts >= self.settings.callback_max_attempts:
            values["dead"] = True
            log.warning("callback %s (%s) given up after %d attempts: %s", message.id, message.kind, attempts, error)
        else:
            values["next_attempt_at"] = utcnow() + self.backoff(attempts)
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values))

    def run_once(self) -> int:
        messages = self.claim_due()
        for message in messages:
            self.send(message)
        return len(messages)
