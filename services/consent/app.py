"""The Consent building block (GovStack Consent BB API 1.1.0-rc1) as a FastAPI service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from services.common.app import create_service_app
from services.common.guard import RouteTable
from services.consent import errors
from services.consent.access import load_admin_token
from services.consent.agreements.views import router as agreements_router
from services.consent.audit.views import router as audit_router
from services.consent.dependencies import is_operator
from services.consent.individuals.views import router as individuals_router
from services.consent.policies.views import router as policies_router
from services.consent.proofs.identity import IdentitySubjects
from services.consent.proofs.service import IndividualProofs
from services.consent.proofs.tokens import IdentityKeys, ProofVerifier
from services.consent.records.views import router as records_router
from services.consent.seed import seed
from services.consent.settings import ConsentSettings
from services.consent.signatures.service import Signer
from services.consent.verification.log_writer import LogWriter
from services.consent.verification.views import router as verification_router
from services.consent.webhooks.delivery import DeliveryWorker
from services.consent.webhooks.service import SecretBox
from services.consent.webhooks.views import router as webhooks_router

MIGRATIONS = Path(__file__).with_name("migrations")

DESCRIPTION = """Consent management: policies and data agreements (revisioned, organisation-signed),
individuals, consent records with JWS signatures, bulk verification for data consumers, audit with
hash-chain verification, and signed webhooks. Paths, keys and the 400 error follow the GovStack Consent
BB OpenAPI; extensions are marked as such. See services/consent/README.md."""

# The order of the docs. Routes are matched router by router, so verification, the hot path, is included first
# (no other router has a path it could match); the docs keep this order (`_tidy_docs`).
DOCUMENTED_ROUTERS = (
    policies_router,
    agreements_router,
    individuals_router,
    records_router,
    verification_router,
    audit_router,
    webhooks_router,
)
MATCHED_ROUTERS = (verification_router, *(r for r in DOCUMENTED_ROUTERS if r is not verification_router))

# One IM service, `consent`, serves the config, service and audit APIs; the JWKS verifying its signatures is public.
ROUTES = RouteTable(services={"consent": ("/config", "/service", "/audit")}, public=("/.well-known",))


def _tidy_docs(app: FastAPI) -> None:
    """Validation errors are answered 400 in the spec's shape; drop FastAPI's generated 422 from the docs. The
    paths are listed in DOCUMENTED_ROUTERS' order (those of no router, e.g. /health, first)."""
    generate = app.openapi
    position = {route.path: i for i, router in enumerate(DOCUMENTED_ROUTERS) for route in router.routes}

    def openapi() -> dict:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schema["paths"] = dict(sorted(schema.get("paths", {}).items(), key=lambda item: position.get(item[0], -1)))
        return schema

    app.openapi = openapi


def _individual_proofs(settings: ConsentSettings, app: FastAPI) -> IndividualProofs:
    """Proofs are checked against Identity's keys; who a subject is, Identity says through the IM."""
    verifier = ProofVerifier(
        IdentityKeys(settings.identity_url), settings.issuer, settings.individual_proof_max_age_seconds
    )
    im = app.state.im
    subjects = IdentitySubjects.through_im(im, settings.identity_verification_service) if im is not None else None
    return IndividualProofs(verifier, subjects)


def create_app(settings: ConsentSettings | None = None) -> FastAPI:
    settings = settings or ConsentSettings()
    signer = Signer(settings.keys_dir)
    box = SecretBox(settings.keys_dir)

    async def start_worker(app: FastAPI) -> None:
        app.state.verification_log = LogWriter(app.state.db)
        app.state.verification_log.start()
        if not app.state.db.is_sqlite:
            from services.consent.verification.pg_checks import PgChecks  # psycopg: 0.1-0.2 s to import

            app.state.pg_checks = PgChecks(app.state.db)
            app.state.pg_checks.start()
        app.state.webhook_worker = DeliveryWorker(app.state.db, settings, box, app.state.im)
        app.state.webhook_worker.start()

    async def stop_worker(app: FastAPI) -> None:
        if app.state.pg_checks is not None:
            await app.state.pg_checks.stop()
        for name in ("webhook_worker", "verification_log"):
            worker = getattr(app.state, name, None)
            if worker is not None:
                worker.stop()

    app = create_service_app(
        settings=settings,
        title="Consent Building Block",
        description=DESCRIPTION,
        version="1.1.0-rc1",
        migrations_dir=MIGRATIONS,
        routers=MATCHED_ROUTERS,
        seed=lambda session, _settings: seed(session, signer, settings),
        error_render=errors.render,
        on_startup=start_worker,
        on_shutdown=stop_worker,
        route_table=ROUTES,
    )
    app.add_exception_handler(IntegrityError, errors.conflict)
    _tidy_docs(app)
    app.state.admin_token = load_admin_token(settings)
    app.state.is_operator = is_operator  # the operator may call without the IM (guard.py), checked per route too
    app.state.individual_proofs = _individual_proofs(settings, app)
    app.state.signer = signer
    app.state.webhook_box = box
    app.state.webhook_worker = None
    app.state.verification_log = None
    app.state.pg_checks = None
    return app
