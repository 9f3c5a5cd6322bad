"""Assembles the construction-permit use case service."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import create_service_app
from usecases.common import oidc, roles
from usecases.common.login_views import login_router
from usecases.common.pages import html_errors, page_errors, serve_static
from usecases.common.routes import route_table
from usecases.common.security import SecurityMiddleware

from . import api, auth, biller, notifications, pages, permit
from .models import LoginState, UserSession
from .settings import ConstructionPermitSettings, load_settings

HERE = Path(__file__).parent
# The biller endpoints the Payments hub calls and the IM room's deliveries form the `callbacks` service.
ROUTES = route_table(
    callbacks=("/callbacks", "/bills", "/billTransferRequests", "/rtpUpdate", "/transferRequests"),
    pages=("/applications", "/notifications", "/verify", "/.well-known"),
)


def render_error(request: Request, status: int, message: str, details: list) -> JSONResponse:
    """The P2G error shape on the biller endpoints the hub calls; `{error, message}` everywhere else."""
    if request.url.path.startswith(("/api/", "/login", "/auth/", "/callbacks/", "/admin")) or request.url.path == "/":
        body = {"error": "invalid_request" if status in (400, 422) else "error", "message": message}
        if details:
            body["details"] = details
        return JSONResponse(body, status_code=status)
    body = {
        "code": {400: "02", 401: "98", 403: "97"}.get(status, "99"),
        "reason": message,
        "requestID": request.headers.get("X-CorrelationID", "")[:12],
    }
    return JSONResponse(body, status_code=status)


def create_app(settings: ConstructionPermitSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = create_service_app(
        settings=settings,
        title="Construction permit (Municipality of Sandbox City)",
        description="Applicants, owners, the permit officer, the clearance authorities and the mayor take an "
        "application from parcel lookup to a sealed permit; identity checks, the owner's consent, the "
        "fee (P2G bill) and notifications (IM pub/sub) go through the Information Mediator.",
        migrations_dir=HERE / "migrations",
        routers=[
            api.router,
            biller.router,
            notifications.router,
            login_router(LoginState, UserSession, auth.open_session, auth.SESSION_COOKIE),
            pages.admin,
            pages.router,
        ],
        seed=seed,
        error_render=html_errors(pages.templates, render_error),
        on_startup=_startup,
        on_shutdown=_shutdown,
        route_table=ROUTES,
    )
    app.state.error_page = page_errors(pages.templates)  # errors raised as APIError, on pages too
    serve_static(app)
    app.add_middleware(SecurityMiddleware, cookie=auth.SESSION_COOKIE)
    return app


def seed(session: Session, settings: ConstructionPermitSettings) -> None:
    """The demo world's officers, mayor and administrator, pending until their first login."""
    roles.seed(session, auth.ROLES)


def _startup(app: FastAPI) -> None:
    oidc.client_key(app.state.settings)
    permit.seal_key(app.state.settings)
    app.state.publisher = (
        notifications.publisher(app.state.db, app.state.im, app.state.settings) if app.state.im is not None else None
    )
    if app.state.publisher is not None:
        app.state.publisher.start()


async def _shutdown(app: FastAPI) -> None:
    if app.state.publisher is not None:
        await asyncio.to_thread(app.state.publisher.stop)
