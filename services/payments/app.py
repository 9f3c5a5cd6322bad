"""The Payments building block: account mapper, G2P bulk disbursement over a double-entry ledger, vouchers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.common import live
from services.common.app import create_service_app
from services.common.guard import RouteTable

from . import envelopes
from .bank import views as bank
from .fsps import views as fsps
from .g2p import views as g2p
from .ledger import views as ledger
from .mapper import views as mapper
from .p2g import views as p2g
from .seed import seed
from .settings import PaymentsSettings
from .vouchers import views_v1 as vouchers_v1
from .vouchers import views_v3 as vouchers_v3
from .worker import Worker

MIGRATIONS = Path(__file__).with_name("migrations")


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

# Each router answers errors in the shape its spec file documents (`error_shape`); v3_error elsewhere.
ROUTERS = [
    mapper.v1_router,
    mapper.mapper_router,
    mapper.lookup_router,
    g2p.validation_router,
    g2p.v1_router,
    g2p.v3_router,
    vouchers_v1.router,
    vouchers_v3.router,
    vouchers_v3.sandbox_router,
    p2g.router,
    p2g.sandbox_router,
    bank.router,
    ledger.router,
    fsps.router,
]


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
        routers=ROUTERS,
        seed=seed,
        error_render=envelopes.v3_error,
        on_startup=start,
        on_shutdown=stop,
        route_table=ROUTES,
    )
    app.state.worker = None
    live.serve_script(app, "/bank/static")  # the bank pages' live refresh
    app.add_middleware(envelopes.BodyCacheMiddleware)
    return app
