"""Assembles a service: database and migrations, health, error shapes, message ids, IM client, seeds."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from . import health
from .assertion import ASSERTION_HEADER, AssertionVerifier, InvalidAssertion, VerifiedCall
from .database import Database
from .errors import ErrorRenderer, default_render, install_error_handlers
from .im_client import MESSAGE_ID_HEADER, IMClient, current_message_id, new_message_id
from .logs import configure_logging
from .settings import ServiceSettings

log = logging.getLogger(__name__)


class MessageIdMiddleware:
    """Binds the incoming `X-Road-Id` (or a new one) to the request, so outgoing IM calls carry it."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._header = MESSAGE_ID_HEADER.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == self._header), None)
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
    error_shapes: Mapping[str, ErrorRenderer] | None = None,
    on_startup: Callable[[FastAPI], object] | None = None,  # may be async
    on_shutdown: Callable[[FastAPI], object] | None = None,
) -> FastAPI:
    configure_logging(settings.log_json, settings.log_level)
    url, schema = settings.resolved_database()
    db = Database(url, schema)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.migrate(migrations_dir)
        if seed is not None and settings.seed:
            with db.session() as session:
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

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.im = (
        IMClient(settings.im_url, settings.im_client, settings.im_client_secret) if settings.im_client else None
    )
    app.state.assertion_verifier = AssertionVerifier(settings.im_url)
    app.add_middleware(MessageIdMiddleware)
    install_error_handlers(app, error_render, error_shapes)
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
    """FastAPI dependency: the client application the IM vouches for, or None for a direct call.

    With `require_im_assertion` on, a call without a valid assertion is refused with 401.
    """
    token = request.headers.get(ASSERTION_HEADER)
    settings: ServiceSettings = request.app.state.settings
    if token is None and not settings.require_im_assertion:
        return None
    try:
        return request.app.state.assertion_verifier.verify(token)
    except InvalidAssertion as exc:
        raise HTTPException(401, str(exc)) from exc
