"""The Information Mediator: registry and configuration API, the `/r1` proxy, directory metaservices,
message log, monitoring and the trace page."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.common.app import create_service_app
from services.common.keys import load_or_create_secret

from .audit import refusals
from .directory.views import router as directory_router
from .proxy.forward import ProxyMiddleware
from .pubsub.views import router as pubsub_router
from .registry.views import router as config_router
from .runtime import IMRuntime
from .settings import IMSettings
from .trace.views import router as trace_router

MIGRATIONS = Path(__file__).with_name("migrations")


def im_error(request: Request, status: int, message: str, details: list) -> Response:
    type_ = "Client.BadRequest" if status < 500 else "Server.InternalError"
    if status == 404:
        type_ = "Client.NotFound"
    if status == 405:
        type_ = "Client.MethodNotAllowed"
    return Response(
        json.dumps({"type": type_, "message": message, "detail": ""}),
        status_code=status,
        media_type="application/json",
        headers={"X-Road-Error": type_},
    )


def create_app(settings: IMSettings | None = None) -> FastAPI:
    settings = settings or IMSettings()
    runtime: IMRuntime | None = None

    async def start(app: FastAPI) -> None:
        await runtime.start()

    async def stop(app: FastAPI) -> None:
        refusals.for_app(app.state).close()  # counts of refused admin calls not yet written reach the audit log
        await runtime.stop()

    app = create_service_app(
        settings=settings,
        title="Information Mediator",
        description=(
            "GovStack Information Mediator (X-Road model): service access through `/r1/{instance}/{class}/"
            "{member}/{application}/{service}/{path}`, directory metaservices, configuration management, "
            "signed hash-chained message log, monitoring and the trace page at `/ui/trace`."
        ),
        migrations_dir=MIGRATIONS,
        routers=[config_router, directory_router, pubsub_router, trace_router],
        error_render=im_error,
        on_startup=start,
        on_shutdown=stop,
    )
    runtime = IMRuntime(settings, app.state.db)
    app.state.im_runtime = runtime
    app.state.admin_token = settings.admin_token or load_or_create_secret(
        settings.data_dir / "secrets", "im-admin-token"
    )
    app.state.viewer_token = settings.viewer_token or load_or_create_secret(
        settings.data_dir / "secrets", "im-viewer-token"
    )
    app.add_middleware(ProxyMiddleware, im=runtime)
    return app
