from __future__ import annotations

from services.identity.schemas import Schema


class Message(Schema):
    id: int
    channel: str
    to: str
    kind: str
    subject: str
    body: str
    sentAt: str


class Inbox(Schema):
    individualId: str
    inboxPage: str
    messages: list[Message]
