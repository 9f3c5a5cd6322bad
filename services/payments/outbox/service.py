"""Callbacks: enqueue in the caller's transaction, deliver in the background with exponential back-off.

Payloads are encrypted at rest (Fernet, key generated under the keys directory) because some carry voucher
numbers. A callback URL under the IM's `/r1/` is sent with this service's IM identity and credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.database import Database
from services.common.im_client import MESSAGE_ID_HEADER, IMClient
from services.common.keys import load_or_create_secret
from services.common.outbox import Backoff, claim_due, im_headers
from services.common.tls import client_context

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
    """Sends due callbacks (claimed under a lease longer than a send can take) and records each attempt."""

    def __init__(self, db: Database, settings: PaymentsSettings, im: IMClient | None):
        self.db = db
        self.settings = settings
        self.im = im
        self.backoff = Backoff(
            settings.callback_backoff_seconds, settings.callback_backoff_cap_seconds, settings.callback_max_attempts
        )
        self.client = httpx.Client(timeout=settings.callback_timeout_seconds, verify=client_context())

    def close(self) -> None:
        self.client.close()

    def headers_for(self, message: OutboxMessage) -> dict[str, str]:
        stored = json.loads(message.headers) if message.headers else {}
        # A message id stored with the message ties the call to the action that queued it in the IM trace.
        return {
            "Content-Type": "application/json",
            **stored,
            **im_headers(self.im, message.target_url, stored.get(MESSAGE_ID_HEADER)),
        }

    def claim_due(self, limit: int = 20) -> list[OutboxMessage]:
        pending = OutboxMessage.delivered_at.is_(None) & OutboxMessage.dead.is_(False)
        with self.db.session() as session:
            claimed = claim_due(session, OutboxMessage, pending, limit, self.settings.callback_timeout_seconds + 5)
            return [session.get(OutboxMessage, message_id) for message_id in claimed]

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
        elif self.backoff.gives_up(attempts):
            values["dead"] = True
            log.warning("callback %s (%s) given up after %d attempts: %s", message.id, message.kind, attempts, error)
        else:
            values["next_attempt_at"] = utcnow() + self.backoff.delay(attempts)
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values))

    def run_once(self) -> int:
        messages = self.claim_due()
        for message in messages:
            self.send(message)
        return len(messages)
