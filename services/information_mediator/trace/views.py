"""The trace a demo audience watches: recent exchanges, newest first, filterable, refreshing itself."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import or_, select

from ..messagelog.models import LogRecord
from ..monitoring.metrics import statistics
from .access import TRACE_PAGE, page_viewer_token, remember_viewer, require_reader
from .redaction import redact_path

router = APIRouter(tags=["Monitoring"])
private = [Depends(require_reader)]
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _row(r: LogRecord, show_identifiers: bool) -> dict:
    return {
        "seq": r.seq,
        "chain": r.chain,
        "messageId": r.message_id,
        "correlationId": r.correlation_id,
        "kind": r.kind,
        "client": r.client,
        "service": r.service,
        "method": r.method,
        "path": r.path if show_identifiers else redact_path(r.path),
        "status": r.status,
        "errorType": r.error_type,
        "requestAt": r.request_at.isoformat(),
        "durationMs": r.duration_ms,
        "requestSize": r.request_size,
        "responseSize": r.response_size,
        "requestHash": r.request_hash,
        "responseHash": r.response_hash,
    }


@router.get("/api/v1/trace", summary="Recent exchanges across the IM, newest first", dependencies=private)
def trace(
    request: Request,
    client: str | None = None,
    service: str | None = None,
    messageId: str | None = None,
    kind: str | None = Query(
        None, description="`rest` (service calls) or `event` (pub/sub publications and deliveries)"
    ),
    limit: int = Query(100, ge=1, le=1000),
    afterId: int | None = None,
) -> JSONResponse:
    stmt = select(LogRecord).order_by(LogRecord.id.desc()).limit(limit)
    if client:
        stmt = stmt.where(LogRecord.client.contains(client))
    if service:
        stmt = stmt.where(LogRecord.service.contains(service))
    if messageId:  # one exchange by the IM's id, or every exchange of the action a client correlated
        stmt = stmt.where(or_(LogRecord.message_id == messageId, LogRecord.correlation_id == messageId))
    if kind:
        stmt = stmt.where(LogRecord.kind == kind)
    if afterId is not None:
        stmt = stmt.where(LogRecord.id > afterId)
    with request.app.state.db.session() as session:
        rows = list(session.scalars(stmt))
    show = request.app.state.im_runtime.settings.trace_identifiers
    return JSONResponse({"exchanges": [dict(_row(r, show), id=r.id) for r in rows]})


@router.get(
    "/api/v1/monitoring",
    summary="Per service and client: counts, failures, latency and sizes",
    dependencies=private,
)
def monitoring(
    request: Request, since: datetime | None = None, service: str | None = None, client: str | None = None
) -> JSONResponse:
    with request.app.state.db.session() as session:
        return JSONResponse({"statistics": statistics(session, since, service, client)})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True, dependencies=private)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.im_runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(TRACE_PAGE, response_class=HTMLResponse, include_in_schema=False)
def trace_page(request: Request, token: str | None = None) -> HTMLResponse:
    viewer_token = page_viewer_token(request, token)
    page = templates.TemplateResponse(
        request,
        "trace.html",
        {"instance": request.app.state.im_runtime.snapshot.instance, "viewer_token": viewer_token},
    )
    if viewer_token:
        remember_viewer(request, page, viewer_token)
    page.headers["Cache-Control"] = "no-store"  # the page holds the token
    page.headers["Referrer-Policy"] = "no-referrer"  # and its URL may
    return page


@router.get(
    "/.well-known/jwks.json", summary="The IM's public signing keys (assertions and message log)", tags=["Keys"]
)
def jwks(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.im_runtime.public_jwks)
