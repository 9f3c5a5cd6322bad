"""The Information Mediator: registry and configuration API, the `/r1` proxy, directory metaservices,
message log, monitoring and the trace page."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from services.common import workers
from services.common.app import create_service_app
from services.common.keys import load_or_create_secret

from .audit.refusals import RefusedAdminCalls
from .directory.views import router as directory_router
from .proxy.errors import im_error
from .proxy.forward import ProxyMiddleware
from .pubsub.publish_path import PublishPath
from .pubsub.views import router as pubsub_router
from .registry.views import router as config_router
from .runtime import IMRuntime
from .settings import IMSettings
from .trace.access import Tokens
from .trace.views import router as trace_router

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(settings: IMSettings | None = None) -> FastAPI:
    settings = settings or IMSettings()
    group = workers.current()
    if group is not None:  # one of several workers: a node of its own (message-log chain, pub/sub leases)
        settings = settings.model_copy(update={"node_id": f"{settings.node_id}-w{group.index + 1}"})
    runtime: IMRuntime | None = None

    async def start(app: FastAPI) -> None:
        await runtime.start()

    async def stop(app: FastAPI) -> None:
        app.state.admin_refusals.close()  # counts of refused admin calls not yet written reach the audit log
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
    secrets = settings.data_dir / "secrets"
    app.state.admin_refusals = RefusedAdminCalls(
        app.state.db, settings.admin_refusal_audit_seconds, settings.admin_refusals_per_second
    )
    app.state.tokens = Tokens(
        admin=settings.admin_token or load_or_create_secret(secrets, "im-admin-token"),
        viewer=settings.viewer_token or load_or_create_secret(secrets, "im-viewer-token"),
    )
    app.add_middleware(ProxyMiddleware, im=runtime)
    # Innermost, just ahead of routing: the common middlewares (body bounds, NUL refusal) apply as to a route.
    app.user_middleware.append(Middleware(PublishPath, im=runtime))
    return app
