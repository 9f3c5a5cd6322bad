"""Client management: `POST /client-mgmt/oidc-client`, `PUT /client-mgmt/oidc-client/{client_id}`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from services.common.errors import error_shape
from services.identity import envelope
from services.identity.clients import service
from services.identity.clients.schemas import ClientCreate, ClientId, ClientUpdate
from services.identity.dependencies import DbSession, IsAdmin
from services.identity.envelope import EnvelopeError
from services.identity.schemas import Envelope, EnvelopeRequest


async def _administrator(admin: IsAdmin) -> None:
    """`require_admin` in this API's words (RFC 7235: a 401 names its scheme)."""
    if not admin:
        raise EnvelopeError("unauthorized", "administrator bearer token required", 401, {"WWW-Authenticate": "Bearer"})


router = APIRouter(
    prefix="/client-mgmt",
    tags=["Client Management"],
    route_class=error_shape(envelope.render),
    dependencies=[Depends(_administrator)],
)


@router.post(
    "/oidc-client",
    summary="Create OIDC Client Endpoint",
    response_model=Envelope[ClientId],
    response_model_exclude_unset=True,
)
def create_oidc_client(session: DbSession, payload: EnvelopeRequest[ClientCreate]) -> dict:
    client = service.create_client(session, payload.request.model_dump(exclude_unset=True))
    return envelope.ok({"clientId": client.client_id})


@router.put(
    "/oidc-client/{client_id}",
    summary="Update OIDC Client Endpoint",
    response_model=Envelope[ClientId],
    response_model_exclude_unset=True,
)
def update_oidc_client(client_id: str, session: DbSession, payload: EnvelopeRequest[ClientUpdate]) -> dict:
    client = service.get_client(session, client_id)
    if client is None:
        raise EnvelopeError("invalid_client_id", "no client with this clientId")
    service.update_client(session, client, payload.request.model_dump(exclude_unset=True))
    return envelope.ok({"clientId": client.client_id})
