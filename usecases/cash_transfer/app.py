"""Assembles the cash-transfer use case service."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.common.app import create_service_app

from . import api, auth, callbacks, pages, views
from .seed import seed
from .settings import CashTransferSettings, load_settings

HERE = Path(__file__).parent


def render_error(request: Request, status: int, message: str, details: list) -> JSONResponse:
    body = {"error": "invalid_request" if status == 400 else "error", "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def create_app(settings: CashTransferSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    return create_service_app(
        settings=settings, title="Unconditional social cash transfer (USCT)",
        description="Officers find candidates, obtain consent, enroll and pay them; every building-block "
                    "call goes through the Information Mediator.",
        migrations_dir=HERE / "migrations", routers=[api.router, callbacks.router, views.router, pages.router],
        seed=seed, error_render=render_error, on_startup=lambda app: auth.client_key(settings),
    )
