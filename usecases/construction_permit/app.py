"""Assembles the construction-permit use case service (so far: the municipality's P2G biller side)."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.app import create_service_app

from . import biller
from .settings import ConstructionPermitSettings

HERE = Path(__file__).parent


def render_error(request: Request, status: int, message: str, details: list) -> JSONResponse:
    body = {"code": "02" if status == 400 else "99", "reason": message,
            "requestID": request.headers.get("X-CorrelationID", "")[:12]}
    return JSONResponse(body, status_code=status)


def create_app(settings: ConstructionPermitSettings | None = None) -> FastAPI:
    settings = settings or ConstructionPermitSettings()
    app = create_service_app(
        settings=settings, title="Construction permit (Municipality of Sandbox City)",
        description="The municipality's side of P2G bill payments (bill inquiry, mark bill paid, request-to-pay "
                    "updates), called by the Payments hub through the Information Mediator.",
        migrations_dir=HERE / "migrations", routers=[biller.router], error_render=render_error,
    )
    app.add_exception_handler(biller.Refused, biller.refused)
    return app
