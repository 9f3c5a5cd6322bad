"""Login and logout routes (OIDC code flow against the Identity BB), shared by the use cases."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from . import oidc
from .db import Registry as DBSession

# (db session, settings, verified userinfo claims) -> cookie token of a new session
OpenSession = Callable[[Session, object, dict], str]


def login_router(login_model: type, session_model: type, open_session: OpenSession, cookie: str) -> APIRouter:
    router = APIRouter(tags=["login"])

    @router.get("/login", summary="Start the OIDC login at the Identity BB")
    def login(
        request: Request,
        next: str = Query(default="/", max_length=200),  # the query parameter's name
        session: Session = DBSession,
    ) -> RedirectResponse:
        return RedirectResponse(
            oidc.start_login(session, request.app.state.settings, login_model, next), status_code=303
        )

    @router.get("/auth/callback", summary="OIDC redirect URI: redeem the code, verify, open a session")
    async def callback(
        request: Request,
        code: str | None = Query(default=None, max_length=500),
        state: str | None = Query(default=None, max_length=200),
        error: str | None = Query(default=None, max_length=100),
        session: Session = DBSession,
    ) -> RedirectResponse:
        if error or not code or not state:
            return RedirectResponse(f"/?login_error={error or 'invalid_request'}", status_code=303)
        settings = request.app.state.settings
        try:
            claims, next_url = await oidc.finish_login(
                session, settings, request.app.state.im, login_model, code, state
            )
        except oidc.LoginFailed as exc:
            session.commit()  # the login state is spent either way
            return RedirectResponse(f"/?login_error={str(exc)[:80]}", status_code=303)
        token = open_session(session, settings, claims)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(cookie, token, httponly=True, samesite="lax", max_age=settings.session_hours * 3600)
        return response

    @router.post("/logout", summary="End the session")
    def logout(request: Request, session: Session = DBSession) -> RedirectResponse:
        user = oidc.current_user(request, session, session_model, cookie)
        if user is not None:
            session.delete(user)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(cookie)
        return response

    return router
