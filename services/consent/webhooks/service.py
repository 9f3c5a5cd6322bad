"""Webhook subscriptions. The HMAC secret must be usable to sign deliveries, so it is stored encrypted
(Fernet, key derived from `var/keys/consent-webhook-secret-key`), and never returned after creation.
A webhook belongs to the member that registered it (`owner`): only it (or the operator) reads or changes it,
and it is sent only the events of that member's agreements and policies (`events.emit`)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.clock import iso
from services.common.keys import load_or_create_secret
from services.consent.errors import not_found
from services.consent.webhooks.models import Webhook, WebhookDelivery
from services.consent.webhooks.schemas import WebhookIn

if TYPE_CHECKING:
    from services.consent.access import Principal

MASK = "********"


class SecretBox:
    def __init__(self, keys_dir: Path):
        material = load_or_create_secret(keys_dir, "consent-webhook-secret-key")
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()


def as_api(hook: Webhook, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "payloadUrl": hook.payload_url,
        "contentType": hook.content_type,
        "disabled": hook.disabled,
        "secretKey": secret if secret is not None else MASK,
        "subscribedEvents": hook.subscribed_events or [],
        "createdAt": iso(hook.created_at),
    }


def create(session: Session, box: SecretBox, data: WebhookIn, owner: str | None = None) -> dict[str, Any]:
    secret = data.secretKey or secrets.token_urlsafe(32)
    hook = Webhook(
        payload_url=data.payloadUrl,
        content_type=data.contentType,
        disabled=data.disabled,
        secret_encrypted=box.seal(secret),
        subscribed_events=data.subscribedEvents,
        owner=owner,
    )
    session.add(hook)
    session.flush()
    # The secret is shown once, at creation (a generated one could not be known otherwise).
    return as_api(hook, secret)


def get(session: Session, webhook_id: str, who: Principal | None = None) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise not_found("webhook", webhook_id)
    if who is not None:
        who.require(hook.owner, "the member that registered the webhook")
    return hook


def update_hook(
    session: Session, box: SecretBox, webhook_id: str, data: WebhookIn, who: Principal | None = None
) -> dict[str, Any]:
    hook = get(session, webhook_id, who)
    hook.payload_url = data.payloadUrl
    hook.content_type = data.contentType
    hook.disabled = data.disabled
    hook.subscribed_events = data.subscribedEvents
    if data.secretKey and data.secretKey != MASK:
        hook.secret_encrypted = box.seal(data.secretKey)
    session.flush()
    return as_api(hook)


def delete(session: Session, webhook_id: str, who: Principal | None = None) -> None:
    hook = get(session, webhook_id, who)
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status == "pending")
        .values(status="cancelled")
    )
    session.delete(hook)


def listing(session: Session, offset: int, limit: int, owner: str | None = None) -> list[dict[str, Any]]:
    """Webhooks, oldest first; with `owner`, only that member's."""
    query = select(Webhook) if owner is None else select(Webhook).where(Webhook.owner == owner)
    rows = session.scalars(query.order_by(Webhook.created_at, Webhook.id).offset(offset).limit(limit))
    return [as_api(h) for h in rows]


def deliveries(
    session: Session, webhook_id: str, offset: int, limit: int, who: Principal | None = None
) -> list[dict[str, Any]]:
    get(session, webhook_id, who)
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        {
            "id": d.id,
            "event": d.event,
            "status": d.status,
            "attempts": d.attempts,
            "nextAttemptAt": iso(d.next_attempt_at),
            "lastStatusCode": d.last_status_code,
            "lastError": d.last_error,
            "createdAt": iso(d.created_at),
            "deliveredAt": iso(d.delivered_at),
        }
        for d in rows
    ]
