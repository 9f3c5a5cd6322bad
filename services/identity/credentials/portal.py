"""The resident's own pages at the provider: `GET /resident` (log in there, or arrive logged in by single
sign-on), then see the service history and messages, block or unblock a login factor, share a credential or
download the card. Forms carry a token bound to the session (a keyed hash of its id)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from services.identity.credentials import events, service
from services.identity.credentials.envelope import CredentialError
from services.identity.credentials.views import card_response, portal_transaction
from services.identity.dependencies import DbSession, ServerSecrets, Settings, SigningKeys, secrets_of
from services.identity.identities import factors
from services.identity.identities.models import Identity
from services.identity.notifications.service import inbox
from services.identity.oidc import sso
from services.identity.oidc.models import IdentitySession
from services.identity.oidc.pages import XSRF_COOKIE, client_of, error_page, form_data, login_page, page

router = APIRouter(prefix="/resident", tags=["Resident pages"], include_in_schema=False)
PORTAL_ACRS = ["idbb:acr:generated-code", "idbb:acr:static-code"]


def _token(request: Request, row: IdentitySession) -> str:
    return secrets_of(request).keyed_hash("resident-form", row.id)


def _signed_in(request: Request, session: Session, form: dict | None = None) -> tuple[IdentitySession, Identity]:
    row = sso.current(request, session)
    if row is None:
        raise CredentialError(401, "unauthorized", "Your login has ended. Log in again.")
    if form is not None and not hmac.compare_digest(str(form.get("token") or ""), _token(request, row)):
        raise CredentialError(403, "forbidden", "Security check failed. Reload the page and try again.")
    return row, session.get(Identity, row.identity_id)


def _home(request: Request, session: Session, row: IdentitySession, identity: Identity, **extra: Any) -> HTMLResponse:
    attributes = identity.attributes or {}
    return page(
        request,
        "resident.html",
        extra.pop("status", 200),
        resident=attributes.get("name") or "",
        vid=service.shown_id(session, identity),
        token=_token(request, row),
        shareable=[(c, service.LABELS[c]) for c in service.SHAREABLE if attributes.get(c) not in (None, "")],
        factors=[(f, factors.FACTOR_NAMES[f], f in factors.blocked(identity)) for f in factors.FACTORS],
        history=events.latest(session, identity.id, 20),
        messages=inbox(session, identity, 10),
        **extra,
    )


@router.get("", response_class=HTMLResponse)
def resident_home(request: Request, session: DbSession, settings: Settings, secrets: ServerSecrets) -> Response:
    row = sso.current(request, session)
    if row is None:  # the provider's own login page, ending here
        transaction, xsrf = portal_transaction(session, settings, secrets, PORTAL_ACRS)
        response = login_page(request, client_of(session, transaction.client_id), transaction, xsrf)
        response.set_cookie(XSRF_COOKIE, xsrf, httponly=False, samesite="strict", secure=request.url.scheme == "https")
        return response
    return _home(request, session, row, session.get(Identity, row.identity_id))


def _guarded(request: Request, session: Session, form: dict) -> tuple[IdentitySession, Identity] | Response:
    try:
        return _signed_in(request, session, form)
    except CredentialError as exc:
        if exc.status_code == 401:
            return RedirectResponse("/resident", status_code=303)
        return error_page(request, exc.code, exc.message, exc.status_code)


@router.post("/share", response_class=HTMLResponse)
def share(
    request: Request,
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    keys: SigningKeys,
    form: dict = Depends(form_data),
) -> Response:
    signed_in = _guarded(request, session, form)
    if isinstance(signed_in, Response):
        return signed_in
    row, identity = signed_in
    chosen = [c for c in service.SHAREABLE if form.get(f"attr_{c}") == "on"]
    birth_year_only = form.get("birth_year_only") == "on"
    request_part = {
        "partnerId": (form.get("partner_id") or "").strip(),
        "purpose": (form.get("purpose") or "").strip(),
        "consent": "Accepted",
        "sharableAttributes": [
            {"attributeName": c, "format": "YYYY" if c == "birthdate" and birth_year_only else None} for c in chosen
        ],
    }
    try:
        event_id, credential, claims = service.share(
            session, settings, secrets, keys, identity, request_part, "resident"
        )
    except CredentialError as exc:
        return _home(request, session, row, identity, error=exc.message, status=400)
    shared = {"event_id": event_id, "credential": credential, "claims": [service.LABELS[c] for c in claims]}
    return _home(request, session, row, identity, shared=shared)


@router.post("/card")
def card(
    request: Request,
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    keys: SigningKeys,
    form: dict = Depends(form_data),
) -> Response:
    signed_in = _guarded(request, session, form)
    if isinstance(signed_in, Response):
        return signed_in
    row, identity = signed_in
    chosen = [c for c in service.SHAREABLE if form.get(f"attr_{c}") == "on"]
    try:
        event_id, pdf = service.card_pdf(session, settings, secrets, keys, identity, chosen, "resident")
    except CredentialError as exc:
        return _home(request, session, row, identity, error=exc.message, status=400)
    return card_response(event_id, pdf)


@router.post("/factors", response_class=HTMLResponse)
def block_factor(request: Request, session: DbSession, form: dict = Depends(form_data)) -> Response:
    signed_in = _guarded(request, session, form)
    if isinstance(signed_in, Response):
        return signed_in
    row, identity = signed_in
    factor, action = form.get("factor"), form.get("action")
    if factor not in factors.FACTORS or action not in ("block", "unblock"):
        return _home(request, session, row, identity, error="Choose a login factor to block or unblock.", status=400)
    service.block(session, identity, [factor], blocked=action == "block", until=None, actor="resident")
    done = f"Login with your {factors.FACTOR_NAMES[factor]} is {action}ed."
    return _home(request, session, row, identity, notice=done)
