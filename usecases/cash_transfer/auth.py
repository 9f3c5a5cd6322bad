"""Who is logged in: the OIDC login is `usecases.common.oidc`; here the USCT roles and sessions."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from usecases.common import oidc

from .models import Candidate, UserSession
from .settings import CashTransferSettings

SESSION_COOKIE = "usct_session"


def open_session(session: Session, settings: CashTransferSettings, claims: dict) -> str:
    """Officers by the configured claims; anyone matching a candidate's email is a beneficiary."""
    roles = oidc.roles_for(settings, claims)
    email = str(claims.get("email", "")).lower()
    candidate = session.scalars(select(Candidate).where(Candidate.email == email)).first() if email else None
    if candidate is not None:
        roles.append("beneficiary")
    token, row = oidc.new_session(
        settings, UserSession, claims, roles, candidate_id=candidate.id if candidate else None
    )
    session.add(row)
    return token


def current_user(request: Request, session: Session) -> UserSession | None:
    return oidc.current_user(request, session, UserSession, SESSION_COOKIE)


def require(request: Request, session: Session, role: str) -> UserSession:
    return oidc.require_role(current_user(request, session), role)
