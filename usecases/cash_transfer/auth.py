"""Who is logged in: the OIDC login is `usecases.common.oidc`; here the USCT roles and sessions. Officers and
administrators come from role assignments (`usecases.common.roles`); a beneficiary is the person the Identity BB
confirms to be a candidate's UIN. Both are keyed by the pairwise `sub` of the login, never by e-mail."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from services.common.im_client import IMClient
from usecases.common import oidc, roles

from . import service
from .models import RoleAssignment, UserSession
from .settings import CashTransferSettings

SESSION_COOKIE = "usct_session"
BENEFICIARY = "beneficiary"
# what the administrator assigns; the first role a user holds decides their home page
ROLES = roles.RoleTables(
    assignments=RoleAssignment,
    sessions=UserSession,
    assignable=("enrollment_officer", "payment_officer", roles.ADMINISTRATOR),
)


def open_session(session: Session, settings: CashTransferSettings, im: IMClient, login: oidc.Login) -> str:
    held = roles.roles_at_login(session, im, settings, ROLES, login.claims)
    candidate = service.link_candidate(session, im, settings, login.claims)
    if candidate is not None:
        held.append(BENEFICIARY)
    token, row = oidc.new_session(settings, UserSession, login, held, candidate_id=candidate.id if candidate else None)
    session.add(row)
    return token


def current_user(request: Request, session: Session) -> UserSession | None:
    return oidc.current_user(request, session, UserSession, SESSION_COOKIE)


def require(request: Request, session: Session, role: str) -> UserSession:
    return oidc.require_role(current_user(request, session), role)
