"""Notices to a resident, delivered to the simulated inbox of their phone (SMS) and e-mail address.

There is no SMS gateway or mail server in the sandbox: a message is a row that the inbox page and the
administrator's API show. It holds what would have been sent, one-time codes included (a phone shows them too).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import iso
from services.identity.identities.models import Identity
from services.identity.notifications.models import Notification
from services.identity.security import Secrets

log = logging.getLogger(__name__)
INBOX_LIMIT = 100  # newest messages shown


def notify(session: Session, identity: Identity, kind: str, subject: str, body: str) -> list[Notification]:
    """One message per channel the resident has (SMS to the phone, e-mail to the address)."""
    attributes = identity.attributes or {}
    addresses = {"sms": attributes.get("phone_number"), "email": attributes.get("email")}
    sent = [
        Notification(identity_id=identity.id, channel=channel, address=address, kind=kind, subject=subject, body=body)
        for channel, address in addresses.items()
        if isinstance(address, str) and address.strip()
    ]
    session.add_all(sent)
    log.info("notice %s for identity #%s on %d channel(s)", kind, identity.id, len(sent))  # never the text
    return sent


def inbox(session: Session, identity: Identity, limit: int = INBOX_LIMIT) -> list[Notification]:
    """The resident's messages, newest first."""
    query = (
        select(Notification)
        .where(Notification.identity_id == identity.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def inbox_key(secrets_: Secrets, identity: Identity) -> str:
    """The key in the link of a resident's inbox page; only the administrator's API hands it out."""
    return secrets_.keyed_hash("inbox", identity.uin)[:32]


def as_json(message: Notification) -> dict:
    return {
        "id": message.id,
        "channel": message.channel,
        "to": message.address,
        "kind": message.kind,
        "subject": message.subject,
        "body": message.body,
        "sentAt": iso(message.created_at, "milliseconds"),
    }
