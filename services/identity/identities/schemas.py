from __future__ import annotations

from typing import Any

from services.identity.schemas import Schema


class Change(Schema):
    at: str
    action: str
    source: str | None = None
    actor: str | None = None
    fields: list[str]
    changes: dict[str, Any] | None = None  # the administrator's view only


class History(Schema):
    history: list[Change]


class NewVid(Schema):
    vid: str


class RevokedVid(Schema):
    vid: str
    status: str
    revokedAt: str


class Unlocked(Schema):
    individualId: str
    unlocked: bool
    before: dict[str, Any]
