"""The Payments building block: account mapper, G2P bulk disbursement over a double-entry ledger, vouchers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.common import live
from services.common.app import create_service_app
from services.common.guard import RouteTable

from . import envelopes
from .bank.views import router as bank_router
from .fsps.views import router as fsps_router
from .g2p.views import router as g2p_router
from .ledger.views import router as ledger_router
from .mapper.views import router as mapper_router
from .p2g.views import p2g_error
from .p2g.views import router as p2g_router
from .seed import seed
from .settings import PaymentsSettings
from .vouchers.views_v1 import error_body as voucher_v1_error
from .vouchers.views_v1 import router as vouchers_v1_router
from .vouchers.views_v3 import router as vouchers_v3_router
from .worker import Worker

MIGRATIONS = Path(__file__).with_name("migrations")

ERROR_SHAPES = {
    "/register-beneficiary": envelopes.v1_error,
    "/update-beneficiary-details": envelopes.v1_error,
    "/prepayment-validation": envelopes.v1_validation_answer,
    "/prepayment-validation-response": envelopes.v1_error,
    "/bulk-payment": envelopes.v1_error,
    "/identityAccountMapper": envelopes.v3_mapper_error,
    "/beneficiary": envelopes.v3_error,
    "/batchtransactions": envelopes.v3_error,
    "/api/v1/batch": envelopes.v3_error,
    "/vouchers": envelopes.v3_voucher_error,
    "/vouchers/voucher_": voucher_v1_error,
    "/vouchers/voucherstatuscheck": voucher_v1_error,
    "/bills": p2g_error,
    "/billTransferRequests": p2g_error,
    "/rtpRequest": p2g_error,
    "/transferRequests": p2g_error,
}

# Which IM service each path belongs to (topology.yaml: PAYMENTS-AUTHORITY/PAYMENTS/<service>). The ledger and
# the simulated FSPs are the G2P hub's; the payer bank's online banking is a public web page.
ROUTES = RouteTable(
    services={
        "mapper": ("/register-beneficiary", "/update-beneficiary-details", "/identityAccountMapper", "/beneficiary"),
        "g2p": (
            "/prepayment-validation",
            "/prepayment-validation-response",
            "/bulk-payment",
            "/batchtransactions",
            "/api/v1/batch",
            "/ledger",
            "/fsps",
        ),
        "vouchers": ("/vouchers", "/voucher-groups", "/merchants"),
        "p2g": ("/p2g", "/bills", "/billTransferRequests", "/rtpRequest", "/transferRequests"),
    },
    public=("/bank",),
)


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()

    def start(app: FastAPI) -> None:
        if settings.worker_enabled:
            app.state.worker = Worker(app.state.db, settings, app.state.im)
            app.state.worker.start()

    def stop(app: FastAPI) -> None:
        worker = getattr(app.state, "worker", None)
        if worker is not None:
            worker.stop()

    app = create_service_app(
        settings=settings,
        title="Payments building block",
        description=(
            "GovStack Payments BB: account mapper (1.0 and v3 APIs), G2P bulk disbursement settled in a "
            "double-entry ledger with simulated FSPs, vouchers (1.0 and v3 APIs), and P2G bill payments with "
            "request-to-pay (a simulated payer bank's online banking under /bank/)."
        ),
        migrations_dir=MIGRATIONS,
        routers=[
            mapper_router,
            g2p_router,
            vouchers_v1_router,
            vouchers_v3_router,
            p2g_router,
            bank_router,
            ledger_router,
            fsps_router,
        ],
        seed=seed,
        error_render=envelopes.v3_error,
        error_shapes=ERROR_SHAPES,
        on_startup=start,
        on_shutdown=stop,
        route_table=ROUTES,
    )
    app.state.worker = None
    live.serve_script(app, "/bank/static")  # the bank pages' live refresh
    app.add_middleware(envelopes.BodyCacheMiddleware)
    return app
