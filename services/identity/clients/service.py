from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.clients.models import OidcClient
from services.identity.clients.validation import LOGOUT_URI_FIELDS, logout_uri, public_rsa_key
from services.identity.envelope import EnvelopeError


class DuplicateClient(EnvelopeError):
    def __init__(self) -> None:
        super().__init__("duplicate_client_id", "a client with this clientId exists")


def get_client(session: Session, client_id: str | None) -> OidcClient | None:
    if not isinstance(client_id, str) or not client_id:
        return None
    return session.get(OidcClient, client_id)


def create_client(session: Session, request: dict[str, Any]) -> OidcClient:
    if session.get(OidcClient, request["clientId"]) is not None:
        raise DuplicateClient
    client = OidcClient(
        client_id=request["clientId"],
        client_name=request["clientName"],
        relying_party_id=request["relyingPartyId"],
        logo_uri=request["logoUri"],
        redirect_uris=list(request["redirectUris"]),
        auth_context_refs=list(dict.fromkeys(request["authContextRefs"])),
        public_key=public_rsa_key(request["publicKey"]),
        enc_public_key=public_rsa_key(request["encPublicKey"], "enc") if request.get("encPublicKey") else None,
        backchannel_logout_uri=logout_uri(request) or None,
        user_claims=list(dict.fromkeys(request["userClaims"])),
        grant_types=list(dict.fromkeys(request["grantTypes"])),
        client_auth_methods=list(dict.fromkeys(request["clientAuthMethods"])),
        status="active",
    )
    session.add(client)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same id
        raise DuplicateClient from exc
    return client


def update_client(session: Session, client: OidcClient, request: dict[str, Any]) -> OidcClient:
    """Update the mutable fields; the signing public key is fixed at creation (spec)."""
    client.client_name = request["clientName"]
    client.status = request["status"]
    client.logo_uri = request["logoUri"]
    client.redirect_uris = list(request["redirectUris"])
    client.user_claims = list(dict.fromkeys(request["userClaims"]))
    client.auth_context_refs = list(dict.fromkeys(request["authContextRefs"]))
    client.grant_types = list(dict.fromkeys(request["grantTypes"]))
    client.client_auth_methods = list(dict.fromkeys(request["clientAuthMethods"]))
    if "encPublicKey" in request:
        enc = request["encPublicKey"]
        client.enc_public_key = public_rsa_key(enc, "enc") if enc else None
    if any(name in request for name in LOGOUT_URI_FIELDS):
        client.backchannel_logout_uri = logout_uri(request) or None
    client.updated_at = utcnow()
    return client
