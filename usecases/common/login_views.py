"""Login and logout routes (OIDC code flow against the Identity BB), shared by the use cases."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from services.common.errors import APIError, DomainError, ErrorRenderer
from services.common.im_client import IMClient

from . import oidc, security
from .dependencies import DB, IM, FormFields, Settings
from .schemas import CSRFAnswer

# (db session, settings, IM client, the verified login) -> cookie token of a new session
OpenSession = Callable[[Session, object, IMClient, oidc.Login], str]
NO_STORE = {"Cache-Control": "no-store"}
NOT_THIS_BROWSER = {
    "error": "invalid_request",
    "message": "this login was not started in this browser (or took too long); start again at /login",
}


class LogoutRefused(DomainError):
    """A back-channel logout token we do not accept, answered as OIDC Back-Channel Logout says (400)."""

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        body = {"error": "invalid_request", "error_description": self.message[:200]}
        return JSONResponse(body, status_code=400, headers=NO_STORE)


def logout_subject(form: FormData, im: IMClient, settings: object) -> str:
    """The `sub` whose sessions a back-channel logout ends, or LogoutRefused."""
    token = form.get("logout_token")
    if not isinstance(token, str) or not token:
        raise LogoutRefused("logout_token is required")
    try:
        return oidc.logout_subject(token, oidc.logout_keys(im, settings), settings)
    except (oidc.LoginFailed, ValueError) as exc:
        raise LogoutRefused(str(exc)) from exc


def login_router(login_model: type, session_model: type, open_session: OpenSession, cookie: str) -> APIRouter:
    router = APIRouter(tags=["login"])

    @router.get("/login", summary="Start the OIDC login at the Identity BB")
    def login(
        request: Request,
        session: DB,
        settings: Settings,
        next: str = Query(default="/", max_length=200),  # the query parameter's name
        login_hint: str = Query(default="", max_length=20, pattern="^[0-9]*$"),  # a VID the login page prefills
    ) -> RedirectResponse:
        url, state = oidc.start_login(session, settings, login_model, next, login_hint)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            security.login_cookie(cookie),
            state,
            max_age=security.LOGIN_COOKIE_SECONDS,
            path="/auth",
            httponly=True,
            samesite="lax",
            secure=security.is_https(settings),
        )
        return response

    @router.get("/auth/callback", summary="OIDC redirect URI: redeem the code, verify, open a session")
    def callback(
        request: Request,
        session: DB,
        im: IM,
        settings: Settings,
        code: str | None = Query(default=None, max_length=500),
        state: str | None = Query(default=None, max_length=200),
        error: str | None = Query(default=None, max_length=100),
    ) -> Response:
        if error or not code or not state:
            return _forget_login(RedirectResponse(f"/?login_error={error or 'invalid_request'}", status_code=303))
        bound = request.cookies.get(security.login_cookie(cookie), "")
        if not hmac.compare_digest(bound.encode(), state.encode()):
            return _forget_login(JSONResponse(NOT_THIS_BROWSER, status_code=400))
        try:
            login = oidc.finish_login(session, settings, im, login_model, code, state)
        except oidc.LoginFailed as exc:
            session.commit()  # the login state is spent either way
            return _forget_login(RedirectResponse(f"/?login_error={str(exc)[:80]}", status_code=303))
        token = open_session(session, settings, im, login)
        response = _forget_login(RedirectResponse(login.next_url, status_code=303))
        response.set_cookie(
            cookie,
            token,
            httponly=True,
            samesite="lax",
            secure=security.is_https(settings),
            max_age=settings.session_hours * 3600,
        )
        return response

    def _forget_login(response: Response) -> Response:
        response.delete_cookie(security.login_cookie(cookie), path="/auth")
        return response

    @router.get(
        "/auth/csrf",
        summary="The CSRF token cookie-authenticated /api/ calls send as X-CSRF-Token",
        response_model=CSRFAnswer,
    )
    def csrf(request: Request, session: DB) -> dict:
        if oidc.current_user(request, session, session_model, cookie) is None or not request.cookies.get(cookie):
            raise APIError(401, {"error": "unauthorized", "message": "log in first (/login)"})
        return {"csrfToken": security.csrf_token_for(request, cookie)}

    @router.post("/auth/backchannel-logout", summary="OIDC Back-Channel Logout: Identity ended the resident's login")
    def backchannel_logout(session: DB, im: IM, settings: Settings, form: FormFields) -> Response:
        """Identity POSTs `logout_token` when the resident logs out there: every session of that resident ends."""
        sub = logout_subject(form, im, settings)
        session.execute(delete(session_model).where(session_model.sub == sub))
        return Response(status_code=200, headers=NO_STORE)

    @router.post("/logout", summary="End the session", dependencies=[Depends(security.form_guard(cookie))])
    def logout(request: Request, session: DB) -> RedirectResponse:
        user = oidc.current_user(request, session, session_model, cookie)
        if user is not None:
            session.delete(user)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(cookie)
        return response

    return router
