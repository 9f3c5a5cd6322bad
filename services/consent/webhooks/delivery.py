"""Background delivery of queued webhook events.

A worker thread polls the durable `consent_webhook_delivery` table, claims due rows, and POSTs each body
with `X-ConsentBB-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, `X-ConsentBB-Event` and
`X-ConsentBB-Delivery`. A 2xx marks the row delivered; anything else schedules a retry after
`base * 2**(attempts-1)` seconds (capped) until `webhook_max_attempts`, then the row is `failed`.
Targets under the IM (`<im_url>/r1/...`) are called with this service's IM identity and credential.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from services.common.database import Database
from services.common.im_client import IMClient
from services.consent.db import utcnow
from services.consent.settings import ConsentSettings
from services.consent.webhooks.models import Webhook, WebhookDelivery
from services.consent.webhooks.service import SecretBox

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-ConsentBB-Signature"


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DeliveryWorker:
    def __init__(self, db: Database, settings: ConsentSettings, box: SecretBox, im: IMClient | None):
        self.db = db
        self.settings = settings
        self.box = box
        self.im = im
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consent-webhooks", daemon=True)
        self._client = httpx.Client(timeout=settings.webhook_timeout_seconds)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._client.close()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the worker must survive a database hiccup
                log.exception("webhook delivery round failed")
                busy = False
            if not busy:
                self._wake.wait(self.settings.webhook_poll_seconds)
                self._wake.clear()

    def run_once(self, batch: int = 50) -> bool:
        """Deliver what is due; True if there was work."""
        claimed = self._claim(batch)
        for delivery_id in claimed:
            if self._stop.is_set():
                break
            self._deliver(delivery_id)
        return bool(claimed)

    def _claim(self, batch: int) -> list[str]:
        """Lease due rows by pushing their next attempt into the future, so no other worker takes them."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 5)
        with self.db.session() as session:
            due = session.execute(
                select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(batch)
            ).all()
            claimed = []
            for row in due:
                result = session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == row.id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at == row.next_attempt_at,
                    )
                    .values(next_attempt_at=lease)
                )
                if result.rowcount == 1:
                    claimed.append(row.id)
        return claimed

    def _deliver(self, delivery_id: str) -> None:
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id) if delivery else None
            if delivery is None or delivery.status != "pending":
                return
            if hook is None or hook.disabled:
                delivery.status = "cancelled"
                return
            url, body, event = hook.payload_url, delivery.payload.encode(), delivery.event
            secret = self.box.open(hook.secret_encrypted)
        headers = {
            "Content-Type": "application/json",
            "X-ConsentBB-Event": event,
            "X-ConsentBB-Delivery": delivery_id,
            SIGNATURE_HEADER: sign_body(secret, body),
        }
        if self.im is not None and url.startswith(self.settings.im_url.rstrip("/") + "/r1/"):
            headers.update(self.im.headers())
        status, error = None, None
        try:
            response = self._client.post(url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        self._record(delivery_id, status, error)

    def _record(self, delivery_id: str, status: int | None, error: str | None) -> None:
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            delivery.last_status_code = status
            if status is not None and 200 <= status < 300:
                delivery.status = "delivered"
                delivery.delivered_at = utcnow()
                delivery.last_error = None
                return
            delivery.last_error = error or f"HTTP {status}"
            if delivery.attempts >= self.settings.webhook_max_attempts:
                delivery.status = "failed"
                return
            delay = min(
                self.settings.webhook_retry_base_seconds * 2 ** (delivery.attempts - 1),
                self.settings.webhook_retry_max_seconds,
            )
            delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
