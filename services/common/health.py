"""`GET /health` (the process answers) and `GET /ready` (its database answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
def health(request: Request) -> dict:
    settings = request.app.state.settings
    body = {"status": "UP", "service": settings.service_name}
    if settings.launch_id:
        body["launch"] = settings.launch_id
    return body


@router.get("/ready", summary="Readiness: the database is reachable")
def ready(request: Request) -> JSONResponse:
    ok = request.app.state.db.ping()
    return JSONResponse(
        {"status": "READY" if ok else "NOT_READY", "database": "UP" if ok else "DOWN"},
        status_code=200 if ok else 503,
    )
