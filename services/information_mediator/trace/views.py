"""The trace a demo audience watches: recent exchanges, newest first, filterable, refreshing itself."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import or_, select

from services.common.clock import iso

from ..dependencies import DB, AccessTokens, Runtime, Settings, reader_only
from ..messagelog.models import LogRecord
from ..monitoring.metrics import statistics
from .access import TRACE_PAGE, page_viewer_token, remember_viewer
from .redaction import redact_path
from .schemas import JWKS, Statistics, Trace

router = APIRouter(tags=["Monitoring"])
private = [Depends(reader_only)]
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
        "requestAt": iso(r.request_at),
        "durationMs": r.duration_ms,
        "requestSize": r.request_size,
        "responseSize": r.response_size,
        "requestHash": r.request_hash,
        "responseHash": r.response_hash,
    }


@router.get(
    "/api/v1/trace",
    summary="Recent exchanges across the IM, newest first",
    response_model=Trace,
    dependencies=private,
)
def trace(
    db: DB,
    settings: Settings,
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
    with db.session() as session:
        rows = list(session.scalars(stmt))
    show = settings.trace_identifiers
    return JSONResponse({"exchanges": [dict(_row(r, show), id=r.id) for r in rows]})


@router.get(
    "/api/v1/monitoring",
    summary="Per service and client: counts, failures, latency and sizes",
    response_model=Statistics,
    dependencies=private,
)
def monitoring(
    db: DB, since: datetime | None = None, service: str | None = None, client: str | None = None
) -> JSONResponse:
    with db.session() as session:
        return JSONResponse({"statistics": statistics(session, since, service, client)})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    dependencies=private,
)
def metrics(runtime: Runtime) -> Response:
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get(TRACE_PAGE, response_class=HTMLResponse, include_in_schema=False)
def trace_page(request: Request, runtime: Runtime, tokens: AccessTokens, token: str | None = None) -> HTMLResponse:
    viewer_token = page_viewer_token(request, tokens, token)
    page = templates.TemplateResponse(
        request, "trace.html", {"instance": runtime.snapshot.instance, "viewer_token": viewer_token}
    )
    if viewer_token:
        remember_viewer(request, page, viewer_token)
    page.headers["Cache-Control"] = "no-store"  # the page holds the token
    page.headers["Referrer-Policy"] = "no-referrer"  # and its URL may
    return page


@router.get(
    "/.well-known/jwks.json",
    summary="The IM's public signing keys (assertions and message log)",
    tags=["Keys"],
    response_model=JWKS,
)
async def jwks(runtime: Runtime) -> JSONResponse:
    return JSONResponse(runtime.public_jwks)
