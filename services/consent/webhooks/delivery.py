"""Background delivery of queued webhook events.

A `PollingLoop` claims due rows of the durable `consent_webhook_delivery` table (`services.common.outbox`)
and POSTs each body with `X-ConsentBB-Signature: sha256=<hex HMAC-SHA256(secret, body)>`,
`X-ConsentBB-Event` and `X-ConsentBB-Delivery`. A 2xx marks the row delivered; anything else schedules a
retry after `base * 2**(attempts-1)` seconds (capped) until `webhook_max_attempts`, then the row is `failed`.
Targets under the IM (`<im_url>/r1/...`) are called with this service's IM identity and credential.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from services.common.clock import utcnow
from services.common.database import Database
from services.common.im_client import IMClient
from services.common.outbox import Backoff, PollingLoop, claim_due, im_headers
from services.common.tls import client_context
from services.consent.settings import ConsentSettings
from services.consent.webhooks.models import Webhook, WebhookDelivery
from services.consent.webhooks.service import SecretBox

SIGNATURE_HEADER = "X-ConsentBB-Signature"


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DeliveryWorker:
    def __init__(self, db: Database, settings: ConsentSettings, box: SecretBox, im: IMClient | None):
        self.db = db
        self.box = box
        self.im = im
        self.backoff = Backoff(
            settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds, settings.webhook_max_attempts
        )
        # A claimed row is leased past one send's timeout, so no other worker takes it meanwhile.
        self.lease_seconds = settings.webhook_timeout_seconds * 2 + 5
        self.loop = PollingLoop("consent-webhooks", self.run_once, settings.webhook_poll_seconds)
        self._client = httpx.Client(timeout=settings.webhook_timeout_seconds, verify=client_context())

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop(timeout=10)
        self._client.close()

    def wake(self) -> None:
        self.loop.wake()

    def run_once(self, batch: int = 50) -> bool:
        """Deliver what is due; True if there was work."""
        with self.db.session() as session:
            pending = WebhookDelivery.status == "pending"
            claimed = claim_due(session, WebhookDelivery, pending, batch, self.lease_seconds)
        for delivery_id in claimed:
            if self.loop.stopping.is_set():
                break
            self._deliver(delivery_id)
        return bool(claimed)

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
            **im_headers(self.im, url),
        }
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
            if self.backoff.gives_up(delivery.attempts):
                delivery.status = "failed"
                return
            delivery.next_attempt_at = utcnow() + self.backoff.delay(delivery.attempts)
