"""Who is logged in: the OIDC login is `usecases.common.oidc`; officers get their roles from identity
claims, every other resident may apply or act as an owner."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from services.common.errors import APIError
from usecases.common import oidc

from .models import UserSession
from .settings import ConstructionPermitSettings

SESSION_COOKIE = "permit_session"


def open_session(session: Session, settings: ConstructionPermitSettings, claims: dict) -> str:
    token, row = oidc.new_session(
        settings, UserSession, claims, oidc.roles_for(settings, claims), email=str(claims.get("email", "")).lower()
    )
    session.add(row)
    return token


def current_user(request: Request, session: Session) -> UserSession | None:
    return oidc.current_user(request, session, UserSession, SESSION_COOKIE)


def require_user(request: Request, session: Session) -> UserSession:
    user = current_user(request, session)
    if user is None:
        raise APIError(401, {"error": "unauthorized", "message": "log in first (/login)"})
    return user
