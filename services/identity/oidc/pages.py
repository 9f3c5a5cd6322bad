"""The browser side of `/authorize`: login (OTP, PIN or wallet QR), consent, redirect with the code.

Errors about the client or the redirect URI are shown on the page (redirecting would hand the error to
an unverified URI); every other error is redirected to the client with `error` and `state`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from services.identity import ratelimit
from services.identity.clients.models import OidcClient
from services.identity.clients.service import get_client
from services.identity.dependencies import (
    DbSession,
    ServerSecrets,
    Settings,
    keyring_of,
    limits_of,
    secrets_of,
    settings_of,
)
from services.identity.identities.models import Identity
from services.identity.identities.service import INDIVIDUAL_ID
from services.identity.oidc import claims as claims_
from services.identity.oidc import login_view, service, sso
from services.identity.oidc.models import AuthTransaction, IdentitySession

router = APIRouter(tags=["OIDC"])
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
XSRF_COOKIE = "XSRF-TOKEN"
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # BASE64URL(SHA-256(code_verifier)) without padding

CLAIM_LABELS = {
    "name": "Full name",
    "given_name": "Given name",
    "family_name": "Family name",
    "middle_name": "Middle name",
    "preferred_username": "Preferred username",
    "nickname": "Nickname",
    "gender": "Gender",
    "birthdate": "Date of birth",
    "email": "Email address",
    "email_verified": "Email verified",
    "phone_number": "Phone number",
    "phone_number_verified": "Phone verified",
    "picture": "Photo",
    "address": "Address",
    "locale": "Locale",
    "zoneinfo": "Time zone",
}


def client_of(session: Session, client_id: str) -> OidcClient | None:
    """The registered client, or the provider's own resident pages (a client that is not registered)."""
    if client_id == service.PORTAL_CLIENT_ID:
        return OidcClient(client_id=client_id, client_name="Your identity account", logo_uri="")
    return get_client(session, client_id)


def client_redirect(redirect_uri: str, params: dict) -> RedirectResponse:
    parts = urlsplit(redirect_uri)
    query = "&".join(p for p in (parts.query, urlencode({k: v for k, v in params.items() if v is not None})) if p)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


def error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> RedirectResponse:
    return client_redirect(redirect_uri, {"error": error, "error_description": description, "state": state})


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("provider_name", settings_of(request).provider_name)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_page(request: Request, error: str, description: str, status: int = 400) -> HTMLResponse:
    return page(request, "error.html", status, error=error, description=description)


@router.get("/authorize", summary="Authorization Endpoint", response_class=HTMLResponse)
def authorize(request: Request, settings: Settings, secrets: ServerSecrets, session: DbSession) -> Response:
    q = request.query_params
    client = get_client(session, q.get("client_id"))
    if client is None or client.status != "active":
        return error_page(request, "invalid_client_id", "Unknown or inactive client.")
    redirect_uri = q.get("redirect_uri")
    if redirect_uri not in client.redirect_uris:
        return error_page(request, "invalid_redirect_uri", "The redirect URI is not registered for this client.")
    state = q.get("state")

    def refuse(error: str, description: str) -> RedirectResponse:
        return error_redirect(redirect_uri, error, description, state)

    if q.get("response_type") != "code":
        return refuse("unsupported_response_type", "only response_type=code is supported")
    scopes = (q.get("scope") or "").split()
    if "openid" not in scopes:
        return refuse("invalid_scope", "scope must contain openid")
    prompts = set((q.get("prompt") or "").split())
    max_age = q.get("max_age")
    if max_age is not None and not (max_age.isdigit() and len(max_age) <= 9):
        return refuse("invalid_request", "max_age must be a number of seconds")
    try:
        claims_param = claims_.parse_claims_parameter(q.get("claims"))
    except claims_.ClaimsRequestError as exc:
        return refuse("invalid_request", str(exc))
    acrs = claims_.resolve_acrs(q.get("acr_values"), claims_param, client.auth_context_refs)
    if not acrs:
        return refuse("invalid_request", "none of the requested acr_values is supported for this client")
    challenge = q.get("code_challenge")
    if q.get("code_challenge_method") != "S256" or not S256_CHALLENGE.fullmatch(challenge or ""):
        return refuse("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
    if (state and len(state) > 256) or len(q.get("nonce") or "") > 512:
        return refuse("invalid_request", "state or nonce too long")
    hint = q.get("login_hint") or ""  # OIDC's login_hint: a UIN or VID to prefill (the use cases' "log in as")
    hint = hint if INDIVIDUAL_ID.fullmatch(hint) else ""
    signed_in = None if "login" in prompts else sso.current(request, session)
    if signed_in is not None and not sso.reusable(session, signed_in, acrs, max_age and int(max_age), hint):
        signed_in = None
    if "none" in prompts and signed_in is None:
        return refuse("login_required", "the resident is not logged in at the provider")
    essential, voluntary = claims_.requested_claims(scopes, claims_param, client.user_claims)
    transaction, xsrf = service.start_transaction(
        session,
        settings,
        secrets,
        client=client,
        redirect_uri=redirect_uri,
        scopes=[s for s in scopes if s in claims_.SUPPORTED_SCOPES],
        essential=essential,
        voluntary=voluntary,
        acrs=acrs,
        state=state,
        nonce=q.get("nonce"),
        code_challenge=challenge,
    )
    if signed_in is None:
        response = login_page(request, client, transaction, xsrf, login_hint=hint)
    else:  # single sign-on: no login page, consent is still asked per client
        sso.resume(signed_in, transaction)
        if "none" in prompts:
            return _silent(request, session, client, transaction, signed_in)
        identity = session.get(Identity, signed_in.identity_id)
        switch = {
            "resident": (identity.attributes or {}).get("name"),
            "url": request.url.include_query_params(prompt="login"),
        }
        response = consent_page(request, client, transaction, xsrf, switch=switch)
    response.set_cookie(
        XSRF_COOKIE, xsrf, httponly=False, samesite="strict", secure=request.url.scheme == "https", path="/"
    )
    return response


def _silent(
    request: Request, session: Session, client: OidcClient, transaction: AuthTransaction, signed_in: IdentitySession
) -> RedirectResponse:
    """`prompt=none` with a session: a code at once if the resident already accepted what is required, in this
    session, for this client; else `consent_required`."""
    earlier = signed_in.consents.get(client.client_id)
    if earlier is None or not set(transaction.essential_claims) <= set(earlier):
        transaction.status = "failed"
        return error_redirect(
            transaction.redirect_uri, "consent_required", "the resident must consent first", transaction.state
        )
    requested = transaction.essential_claims + transaction.voluntary_claims
    return _finish(request, session, transaction, [c for c in requested if c in earlier])


def _finish(request: Request, session: Session, transaction: AuthTransaction, accepted: list[str]) -> Response:
    """Consent given: the code goes to the client; the session and the resident's history remember the login."""
    try:
        service.give_consent(transaction, list(dict.fromkeys(accepted)))
    except service.AuthFailed as exc:
        return error_page(request, exc.code, exc.message)
    code = service.issue_code(settings_of(request), secrets_of(request), transaction)
    sso.remember_login(session, transaction, service.client_name(session, transaction.client_id))
    return client_redirect(transaction.redirect_uri, {"code": code, "state": transaction.state})


def consent_page(
    request: Request, client: OidcClient | None, transaction: AuthTransaction, xsrf: str, switch: dict | None = None
) -> HTMLResponse:
    """The consent page; `switch` (single sign-on) names the logged-in resident and links to another login."""
    context = {"client": client, "transaction": transaction, "xsrf": xsrf, "labels": CLAIM_LABELS, "switch": switch}
    return page(request, "consent.html", **context)


def login_page(
    request: Request, client: OidcClient | None, transaction: AuthTransaction, xsrf: str, **extra: Any
) -> HTMLResponse:
    settings = settings_of(request)
    return page(
        request,
        "login.html",
        extra.pop("status", 200),
        client=client,
        transaction=transaction,
        xsrf=xsrf,
        factors=service.allowed_factors(transaction),
        labels=CLAIM_LABELS,
        demo_logins=login_view.demo_logins(settings),
        sandbox_otp=settings.sandbox_otp if settings.sandbox_mode else None,
        **extra,
    )


@router.get("/authorize/login", include_in_schema=False)
def login_again(request: Request, session: DbSession, transaction_id: str = "") -> Response:
    """The first login page of a running login again ("change VID"), for the browser that holds its XSRF cookie."""
    xsrf = request.cookies.get(XSRF_COOKIE)
    transaction, refusal = _checked_transaction(request, session, {"transaction_id": transaction_id, "xsrf": xsrf})
    if refusal:
        return refusal
    if transaction.status != "started":
        return error_page(request, "invalid_transaction", "This login is already authenticated or finished.")
    return login_page(request, client_of(session, transaction.client_id), transaction, xsrf)


async def form_data(request: Request) -> dict:
    """The posted form, read on the event loop so that the (sync) route itself runs in the threadpool.

    Repeated fields (the consent checkboxes) are lists under their name.
    """
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - an unreadable form is an empty one; the checks below refuse it
        return {}
    return {key: (form.getlist(key) if key == "claims" else form.get(key)) for key in form}


def _checked_transaction(
    request: Request, session: Session, form: dict
) -> tuple[AuthTransaction, None] | tuple[None, HTMLResponse]:
    transaction = service.live_transaction(session, form.get("transaction_id"))
    if transaction is None:
        return None, error_page(request, "invalid_transaction", "This login has expired or does not exist.")
    if not service.xsrf_valid(secrets_of(request), transaction, request.cookies.get(XSRF_COOKIE), form.get("xsrf")):
        return None, error_page(request, "invalid_request", "Security check failed (XSRF).", 403)
    return transaction, None


def _lockout(request: Request, client: OidcClient | None, transaction: AuthTransaction) -> HTMLResponse:
    """The login is over: say why in words; the way back hands the client `access_denied`."""
    back = error_redirect(
        transaction.redirect_uri, "access_denied", "too many failed authentication attempts", transaction.state
    )
    reason = login_view.stopped_reason(settings_of(request))
    return page(request, "stopped.html", 403, client=client, reason=reason, back=back.headers["location"])


def _too_many(request: Request, client: OidcClient | None, transaction: AuthTransaction, form: dict) -> Response | None:
    """The login page with 429 once the client's authentication attempts exceed its rate limit."""
    try:
        limits_of(request).authentication.hit(transaction.client_id)
    except ratelimit.RateLimited as exc:
        response = login_page(request, client, transaction, form["xsrf"], error=str(exc), status=429)
        response.headers.update(exc.headers)
        return response
    return None


@router.post("/authorize/send-otp", include_in_schema=False)
def send_otp(
    request: Request, settings: Settings, secrets: ServerSecrets, session: DbSession, form: dict = Depends(form_data)
) -> Response:
    transaction, refusal = _checked_transaction(request, session, form)
    if refusal:
        return refusal
    client = client_of(session, transaction.client_id)
    if limited := _too_many(request, client, transaction, form):
        return limited
    individual_id = (form.get("individual_id") or "").strip()
    try:
        service.send_otp(session, settings, secrets, transaction, individual_id)
    except service.AuthFailed as exc:
        if exc.locked:
            return _lockout(request, client, transaction)
        message = login_view.in_words(exc, settings, transaction, "OTP")
        typed = {"individual_id": individual_id}  # the page keeps what was typed
        if exc.code == "send_otp_failed":  # a resend too soon: stay on the code page
            typed = login_view.otp_context(session, settings, transaction, individual_id)
        return login_page(request, client, transaction, form["xsrf"], error=message, status=400, **typed)
    otp = login_view.otp_context(session, settings, transaction, individual_id)
    return login_page(request, client, transaction, form["xsrf"], **otp)


@router.post("/authorize/authenticate", include_in_schema=False)
def authenticate(
    request: Request, settings: Settings, secrets: ServerSecrets, session: DbSession, form: dict = Depends(form_data)
) -> Response:
    transaction, refusal = _checked_transaction(request, session, form)
    if refusal:
        return refusal
    client = client_of(session, transaction.client_id)
    if limited := _too_many(request, client, transaction, form):
        return limited
    individual_id = (form.get("individual_id") or "").strip()
    factor = form.get("factor") or ""
    challenge = service.Challenge(factor, "".join((form.get("challenge") or "").split()))
    typed = {"individual_id": individual_id}  # an error page keeps what was typed, the code page its details
    if factor == "OTP" and "OTP" in service.allowed_factors(transaction):
        typed = login_view.otp_context(session, settings, transaction, individual_id)
    if not challenge.value:  # nothing typed: say so, and do not use up an attempt
        what = "the code we sent" if factor == "OTP" else "your PIN"
        return login_page(request, client, transaction, form["xsrf"], error=f"Enter {what}.", status=400, **typed)
    try:
        service.authenticate(session, settings, secrets, transaction, individual_id, [challenge])
    except service.AuthFailed as exc:
        if exc.locked:
            return _lockout(request, client, transaction)
        message = login_view.in_words(exc, settings, transaction, factor)
        return login_page(request, client, transaction, form["xsrf"], error=message, status=400, **typed)
    previous = sso.current(request, session)
    if previous is not None:  # another login in this browser replaces its session
        end_session(request, session, previous)
    _, token = sso.open_session(session, settings, secrets, transaction)
    if transaction.client_id == service.PORTAL_CLIENT_ID:
        transaction.status = "consented"  # nothing to consent to: the resident's own pages
        response: Response = RedirectResponse("/resident", status_code=303)
    else:
        response = consent_page(request, client, transaction, form["xsrf"])
    sso.set_cookie(request, response, token)
    return response


def end_session(request: Request, session: Session, row: IdentitySession) -> None:
    """End a session and tell its relying parties (after the commit, so a slow one holds no database lock)."""
    settings = settings_of(request)
    notices = sso.end(session, settings, secrets_of(request), keyring_of(request), row)
    session.commit()
    if notices:
        sso.deliver(settings, notices)


@router.post("/authorize/consent", include_in_schema=False)
def consent(request: Request, session: DbSession, form: dict = Depends(form_data)) -> Response:
    transaction, refusal = _checked_transaction(request, session, form)
    if refusal:
        return refusal
    if transaction.status != "authenticated":
        return error_page(request, "invalid_transaction", "This login is not waiting for consent.")
    if form.get("decision") != "allow":
        transaction.status = "failed"
        return error_redirect(transaction.redirect_uri, "consent_rejected", "the resident declined", transaction.state)
    if transaction.client_id == service.PORTAL_CLIENT_ID:
        return error_page(request, "invalid_transaction", "This login is not waiting for consent.")
    return _finish(request, session, transaction, list(form.get("claims") or []) + list(transaction.essential_claims))
