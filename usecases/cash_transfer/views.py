"""Login and logout routes (OIDC code flow against the Identity BB)."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from .db import Registry as DBSession

from . import auth

router = APIRouter(tags=["login"])


@router.get("/login", summary="Start the OIDC login at the Identity BB")
def login(request: Request, next: str = Query(default="/", max_length=200), session: Session = DBSession) -> RedirectResponse:  # noqa: A002
    return RedirectResponse(auth.start_login(session, request.app.state.settings, next), status_code=303)


@router.get("/auth/callback", summary="OIDC redirect URI: redeem the code, verify, open a session")
async def callback(request: Request, code: str | None = Query(default=None, max_length=500),
                   state: str | None = Query(default=None, max_length=200),
                   error: str | None = Query(default=None, max_length=100), session: Session = DBSession):  # noqa: ANN201
    if error or not code or not state:
        return RedirectResponse(f"/?login_error={error or 'invalid_request'}", status_code=303)
    try:
        token, next_url = await auth.finish_login(session, request.app.state.settings, request.app.state.im, code, state)
    except auth.LoginFailed as exc:
        session.commit()  # the login state is spent either way
        return RedirectResponse(f"/?login_error={str(exc)[:80]}", status_code=303)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="lax",
                        max_age=request.app.state.settings.session_hours * 3600)
    return response


@router.post("/logout", summary="End the session")
def logout(request: Request, session: Session = DBSession) -> RedirectResponse:
    auth.logout(request, session)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
