"""Assembles the cash-transfer use case service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.app import create_service_app
from services.common.keys import load_or_create_secret
from usecases.common import oidc
from usecases.common.login_views import login_router
from usecases.common.pages import html_errors, page_errors, serve_static
from usecases.common.routes import route_table
from usecases.common.security import SecurityMiddleware

from . import api, auth, callbacks, pages
from .models import LoginState, UserSession
from .seed import seed
from .settings import CashTransferSettings, load_settings

HERE = Path(__file__).parent
_login = login_router(LoginState, UserSession, auth.open_session, auth.SESSION_COOKIE)


def render_error(request: Request, status: int, message: str, details: list) -> JSONResponse:
    body = {"error": "invalid_request" if status == 400 else "error", "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def create_app(settings: CashTransferSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = create_service_app(
        settings=settings,
        title="Unconditional social cash transfer (USCT)",
        description="Officers find candidates, obtain consent, enroll and pay them; every building-block "
        "call goes through the Information Mediator.",
        migrations_dir=HERE / "migrations",
        routers=[api.router, callbacks.router, _login, pages.admin, pages.router],
        seed=seed,
        error_render=html_errors(pages.templates, render_error),
        on_startup=_startup,
        route_table=route_table(callbacks=("/callbacks",), pages=("/officer", "/payments", "/me")),
    )
    app.state.error_page = page_errors(pages.templates)  # errors raised as APIError, on pages too
    serve_static(app)
    app.add_middleware(SecurityMiddleware, cookie=auth.SESSION_COOKIE)
    return app


def _startup(app: FastAPI) -> None:
    settings = app.state.settings
    oidc.client_key(settings)
    app.state.consent_webhook_secret = webhook_secret(settings)


def webhook_secret(settings: CashTransferSettings) -> str:
    return load_or_create_secret(settings.data_dir / "secrets", "consent-webhook-secret")
