"""Client management: `POST /client-mgmt/oidc-client`, `PUT /client-mgmt/oidc-client/{client_id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity import envelope
from services.identity.clients import service, validation
from services.identity.envelope import EnvelopeError
from services.identity.security import is_admin

router = APIRouter(prefix="/client-mgmt", tags=["Client Management"])


def _unauthorized() -> JSONResponse:
    response = envelope.failed([("unauthorized", "administrator bearer token required")], 401)
    response.headers["WWW-Authenticate"] = "Bearer"  # RFC 7235: a 401 names its scheme
    return response


@router.post("/oidc-client", summary="Create OIDC Client Endpoint", response_model=None)
def create_oidc_client(
    request: Request, payload: Any = Body(None), session: Session = DBSession
) -> dict | JSONResponse:
    if not is_admin(request):
        return _unauthorized()
    try:
        body = envelope.request_part(payload)
    except EnvelopeError as exc:
        return envelope.failed([(exc.code, exc.message)])
    errors = validation.create_errors(body)
    if errors:
        return envelope.failed(errors)
    try:
        client = service.create_client(session, body)
    except service.DuplicateClient:
        return envelope.failed([("duplicate_client_id", "a client with this clientId exists")])
    return envelope.ok({"clientId": client.client_id})


@router.put("/oidc-client/{client_id}", summary="Update OIDC Client Endpoint", response_model=None)
def update_oidc_client(
    client_id: str, request: Request, payload: Any = Body(None), session: Session = DBSession
) -> dict | JSONResponse:
    if not is_admin(request):
        return _unauthorized()
    try:
        body = envelope.request_part(payload)
    except EnvelopeError as exc:
        return envelope.failed([(exc.code, exc.message)])
    client = service.get_client(session, client_id)
    if client is None:
        return envelope.failed([("invalid_client_id", "no client with this clientId")])
    errors = validation.update_errors(body)
    if errors:
        return envelope.failed(errors)
    service.update_client(session, client, body)
    return envelope.ok({"clientId": client.client_id})
