"""Who is logged in: the OIDC login is `usecases.common.oidc`; officers, the mayor and administrators get their
roles from role assignments (`usecases.common.roles`, keyed by the login's pairwise `sub`); every other resident
may apply or act as an owner, architect or contractor."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from services.common.errors import APIError
from services.common.im_client import IMClient
from usecases.common import oidc, roles

from .models import RoleAssignment, UserSession
from .settings import OFFICER_ROLES, ConstructionPermitSettings

SESSION_COOKIE = "permit_session"
ROLES = roles.RoleTables(
    assignments=RoleAssignment,
    sessions=UserSession,
    assignable=(*OFFICER_ROLES, roles.ADMINISTRATOR),
    invalid_status=422,
)


def open_session(session: Session, settings: ConstructionPermitSettings, im: IMClient, login: oidc.Login) -> str:
    held = roles.roles_at_login(session, im, settings, ROLES, login.claims)
    token, row = oidc.new_session(settings, UserSession, login, held)
    session.add(row)
    return token


def current_user(request: Request, session: Session) -> UserSession | None:
    return oidc.current_user(request, session, UserSession, SESSION_COOKIE)


def require_user(request: Request, session: Session) -> UserSession:
    user = current_user(request, session)
    if user is None:
        raise APIError(401, {"error": "unauthorized", "message": "log in first (/login)"})
    return user


def officer_roles(user: UserSession) -> set[str]:
    """The roles that act on applications (an administrator manages roles and reads no application)."""
    return set(user.roles) & set(OFFICER_ROLES)
