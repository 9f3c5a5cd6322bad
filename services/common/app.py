"""Assembles a service: database and migrations, health, error shapes, message ids, IM client, seeds, and
interactive API docs that need no network."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from . import health
from .assertion import AssertionVerifier, VerifiedCall
from .database import Database
from .errors import ErrorRenderer, default_render, install_error_handlers
from .guard import IMGuardMiddleware, RouteTable
from .im_client import CORRELATION_HEADER, MESSAGE_ID_HEADER, IMClient, current_message_id, new_message_id
from .limits import BodyLimitMiddleware, NulRefusalMiddleware
from .logs import configure_logging
from .settings import ServiceSettings

log = logging.getLogger(__name__)
DOCS_ASSETS = "/docs/assets"  # under /docs: public wherever /docs is (guard.py)
# The sandbox exports no OpenTelemetry: without this FastAPI asks the OpenTelemetry API on every request whether
# a provider was configured since (a few per cent of a cheap request).
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


class MessageIdMiddleware:
    """Binds the action the request belongs to (the IM's `X-Road-Correlation-Id`, else `X-Road-Id`, else a new
    id) to the request, so the IM calls it makes carry it and the trace shows one user action together."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._headers = (CORRELATION_HEADER.lower().encode(), MESSAGE_ID_HEADER.lower().encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        found = {k: v for k, v in scope["headers"] if k in self._headers}
        incoming = next((found[h].decode("latin-1") for h in self._headers if h in found), None)
        token = current_message_id.set(incoming or new_message_id())
        try:
            await self.app(scope, receive, send)
        finally:
            current_message_id.reset(token)


async def _maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    version: str = "1.0.0",
    migrations_dir: Path,
    routers: Iterable[APIRouter] = (),
    seed: Callable[[Session, ServiceSettings], None] | None = None,
    error_render: ErrorRenderer = default_render,
    on_startup: Callable[[FastAPI], object] | None = None,  # may be async
    on_shutdown: Callable[[FastAPI], object] | None = None,
    route_table: RouteTable | None = None,
) -> FastAPI:
    """`route_table` says which paths belong to which IM service of this application; a service without one
    (the IM itself) has no IM-guarded routes."""
    configure_logging(settings.log_json, settings.log_level)
    url, schema = settings.resolved_database()
    db = Database(url, schema)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.migrate(migrations_dir)
        if seed is not None and settings.seed:
            with db.session() as session:
                db.take_turns(session, "seed")  # replicas starting together seed one after the other
                seed(session, settings)
        if on_startup:
            await _maybe_await(on_startup(app))
        try:
            yield
        finally:
            if on_shutdown:
                await _maybe_await(on_shutdown(app))
            if app.state.im is not None:
                await app.state.im.aclose()
            db.dispose()

    # Swagger UI at /docs (and ReDoc at /redoc) from files the package ships: the docs work offline.
    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.migrations_dir = (
        migrations_dir  # for `sandbox serve` with several workers: migrated once, before they fork
    )
    app.state.im = (
        IMClient(settings.im_url, settings.im_client, settings.im_client_secret) if settings.im_client else None
    )
    app.state.assertion_verifier = AssertionVerifier(settings.im_url)
    app.state.route_table = route_table
    if route_table is not None:
        if not settings.require_im_assertion:
            log.warning(
                "!!! %s: IM assertion checks are OFF (require_im_assertion=false): any caller that reaches this "
                "port directly is served as if the IM had vouched for it. Development only. !!!",
                title,
            )
        app.add_middleware(IMGuardMiddleware, table=route_table)
    app.add_middleware(MessageIdMiddleware)
    app.add_middleware(NulRefusalMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)  # outermost: bounds every read
    install_error_handlers(app, error_render)
    app.include_router(health.router)
    for router in routers:
        app.include_router(router)
    return app


def db_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns without error; use it through `DBSession`."""
    with request.app.state.db.session() as session:
        yield session


# `session: Session = DBSession` in a route. Scope "function" commits before the response is sent: a
# client's next request sees the write, and a failing commit answers as an error instead of after a 200.
DBSession = Depends(db_session, scope="function")


def im_client(request: Request) -> IMClient:
    im = request.app.state.im
    if im is None:
        raise HTTPException(503, "this service has no Information Mediator client configured")
    return im


def im_caller(request: Request) -> VerifiedCall | None:
    """FastAPI dependency: the client application the IM vouches for (checked by `IMGuardMiddleware`), or
    None on a public route or when the checks are switched off."""
    return request.scope.get("state", {}).get("im_call")
