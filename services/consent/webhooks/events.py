"""Events sent to webhooks. Each delivery's JSON body is
`{"id": <delivery id>, "event": <name>, "timestamp": <UTC ISO>, "data": {...}}`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.consent.db import new_id
from services.consent.revisions.service import canonical_json
from services.consent.webhooks.models import Webhook, WebhookDelivery

CONSENT_GIVEN = "consent.given"  # a record now says optIn=true (new record, or re-consent)
CONSENT_REFUSED = "consent.refused"  # a new record says optIn=false
CONSENT_WITHDRAWN = "consent.withdrawn"  # an existing record changed from optIn=true to false
CONSENT_SIGNED = "consent.signed"  # a valid signature was attached to a record's current revision
CONSENT_DELETED = "consent.deleted"  # right to be forgotten removed a record
AGREEMENT_CREATED = "data_agreement.created"
AGREEMENT_UPDATED = "data_agreement.updated"
AGREEMENT_DELETED = "data_agreement.deleted"
POLICY_UPDATED = "policy.updated"
POLICY_DELETED = "policy.deleted"

ALL = [
    CONSENT_GIVEN,
    CONSENT_REFUSED,
    CONSENT_WITHDRAWN,
    CONSENT_SIGNED,
    CONSENT_DELETED,
    AGREEMENT_CREATED,
    AGREEMENT_UPDATED,
    AGREEMENT_DELETED,
    POLICY_UPDATED,
    POLICY_DELETED,
]


def emit(session: Session, event: str, data: dict[str, Any], member: str | None) -> int:
    """Queue `event` for every enabled webhook subscribed to it (an empty subscription list means all) that
    belongs to `member` (the controller of the agreement, the owner of the policy) or to the operator."""
    owners = or_(Webhook.owner.is_(None), Webhook.owner == member) if member else Webhook.owner.is_(None)
    hooks = session.scalars(select(Webhook).where(Webhook.disabled.is_(False), owners)).all()
    now = utcnow()
    count = 0
    for hook in hooks:
        if hook.subscribed_events and event not in hook.subscribed_events:
            continue
        delivery_id = new_id()
        body = canonical_json({"id": delivery_id, "event": event, "timestamp": iso(now), "data": data})
        session.add(WebhookDelivery(id=delivery_id, webhook_id=hook.id, event=event, payload=body, next_attempt_at=now))
        count += 1
    return count
