"""The audit log of administrative requests: every change, successful or refused."""

from __future__ import annotations

import hmac

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.common.database import Database

from .models import AuditEntry


def record(db: Database, actor: str, action: str, status: int, detail: str | None = None) -> None:
    outcome = "success" if status < 400 else ("refused" if status in (401, 403) else "rejected")
    with db.session() as session:
        session.add(
            AuditEntry(
                at=utcnow(),
                actor=actor,
                action=action,
                outcome=outcome,
                status=status,
                detail=detail[:4000] if detail else None,
            )
        )


def recent(session: Session, limit: int = 100) -> list[dict]:
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "at": iso(r.at),
            "actor": r.actor,
            "action": r.action,
            "outcome": r.outcome,
            "status": r.status,
            "detail": r.detail,
        }
        for r in rows
    ]


def is_admin(request: Request, token: str) -> bool:
    auth = request.headers.get("authorization", "")
    scheme, _, presented = auth.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
