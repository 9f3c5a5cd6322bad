"""The Identity building block: OIDC provider, client management, wallet login, enrollment, verification."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.app import create_service_app
from services.common.guard import RouteTable
from services.identity.admin import router as admin_router
from services.identity.clients.views import router as clients_router
from services.identity.credentials import envelope as credential_envelope
from services.identity.credentials import views as credential_views
from services.identity.credentials.portal import router as portal_router
from services.identity.dependencies import is_admin
from services.identity.enrollment import views as enrollment_views
from services.identity.errors import error_code
from services.identity.identities.seed import seed_residents
from services.identity.identities.views import router as identities_router
from services.identity.linked.views import admin_router as wallet_partners_router
from services.identity.linked.views import router as linked_router
from services.identity.notifications.views import router as inbox_router
from services.identity.oidc.logout_view import router as logout_router
from services.identity.oidc.pages import router as pages_router
from services.identity.oidc.tokens import OidcProvider
from services.identity.oidc.views import router as oidc_router
from services.identity.ratelimit import Limits
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring
from services.identity.verification.views import router as verification_router

DESCRIPTION = """GovStack Identity building block (MOSIP eSignet style): OpenID Connect provider
(`private_key_jwt`, RS256, partner-specific `sub`), client management, wallet linked login, enrollment
and yes/no identity verification. See services/identity/README.md."""


def oauth_render(request: Request, status: int, message: str, details: list) -> Response:
    error = error_code(details) or ("invalid_request" if status < 500 else "unknown_error")
    return JSONResponse(
        {"error": error, "error_description": message if status < 500 else "internal error"}, status_code=status
    )


def _seed(session: Session, settings: IdentitySettings) -> None:
    seed_residents(session, settings)


# Credential-Management.yaml's paths (and /req/otp): the resident's session or the admin token, checked there.
CREDENTIAL_PATHS = tuple(credential_envelope.API_IDS) + ("/resident",)

# Which IM service each path belongs to (topology.yaml: IDENTITY-AUTHORITY/IDENTITY/<service>). OpenID Connect,
# the login pages and the wallet APIs authenticate their callers themselves (client assertions, tokens, link
# codes, the admin token), so they are public here; `oidc` through the IM reaches exactly those.
ROUTES = RouteTable(
    services={"enrollment": ("/enrollment", "/identities"), "verification": ("/v1/verification",)},
    public=(
        "/.well-known",
        "/oauth",
        "/oidc",
        "/authorize",
        "/client-mgmt",
        "/linked-authorization",
        "/wallet-binding",
        "/admin",
        "/inbox",
        *CREDENTIAL_PATHS,
    ),
)


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()

    def on_startup(app: FastAPI) -> None:
        state = app.state
        state.secrets = Secrets(settings)
        ttl = max(settings.access_token_ttl_seconds, settings.id_token_ttl_seconds)
        state.keyring = Keyring(settings.keys_dir, settings.signing_key_days, ttl, settings.base_url)
        state.limits = Limits(settings)
        threads = anyio.CapacityLimiter(settings.token_threads or (1 if state.db.is_sqlite else 4))
        state.provider = OidcProvider(settings, state.secrets, state.keyring, state.db, threads)

    app = create_service_app(
        settings=settings,
        title="Identity Building Block",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).with_name("migrations"),
        routers=[
            oidc_router,
            pages_router,
            logout_router,
            clients_router,
            linked_router,
            wallet_partners_router,
            enrollment_views.router,
            verification_router,
            identities_router,
            admin_router,
            inbox_router,
            credential_views.router,
            portal_router,
        ],
        seed=_seed,
        error_render=oauth_render,
        on_startup=on_startup,
        route_table=ROUTES,
    )
    app.state.is_operator = is_admin  # the administrator may call the relying-party APIs directly
    return app
