"""Credential-Management.yaml: `/share-credential`, `/events/{eventId}`, `/download/personalized-card`,
`/update-uin` (with the extension `/req/otp`), `/service-history/{langCode}`, `/updateIdentity`, `/block`,
`/unblock`.

Resident operations need the resident's own Identity session (the `IDN-SESSION` cookie of a login at the
provider); a cookie-authenticated write must be `application/json` from no other origin. `/updateIdentity` is
the administrator's; `/block` and `/unblock` the administrator's or the resident's own (spec 8.3: "systems with
administrative permissions"; the resident may block only their own factors).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity import ratelimit
from services.identity.base import iso, utcnow
from services.identity.credentials import events, service
from services.identity.credentials.envelope import CredentialError, failed, ok
from services.identity.enrollment.fields import FieldError, attributes
from services.identity.identities.models import Identity
from services.identity.identities.service import update_identity
from services.identity.notifications.service import notify
from services.identity.oidc import service as login
from services.identity.oidc import sso
from services.identity.oidc.models import AuthTransaction
from services.identity.oidc.pages import client_of
from services.identity.security import is_admin

router = APIRouter(tags=["Credential management"])
API_IDS = {
    "/share-credential": "mosip.resident.share.credential",
    "/events": "mosip.resident.event.status",
    "/download": "mosip.resident.download.personalized.card",
    "/req/otp": "mosip.identity.otp",
    "/update-uin": "mosip.resident.updateuin",
    "/service-history": "mosip.service.history.get",
    "/updateIdentity": "govstack.updateIdentity",
    "/block": "govstack.block",
    "/unblock": "govstack.unblock",
}
UPDATABLE_BY_RESIDENT = {"phone_number", "email", "address"}  # contact details; the rest needs an enrollment


def api_id(path: str) -> str:
    return next((v for k, v in API_IDS.items() if path == k or path.startswith(k + "/")), "mosip.resident")


def error_handler(request: Request, exc: CredentialError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return failed(api_id(request.url.path), exc.status, exc.code, exc.message, headers)


def request_part(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
        raise CredentialError(400, "invalid_input", "body must be {id, version, requesttime, request: {...}}")
    return payload["request"]


def resident(request: Request, session: Session, *, write: bool = False) -> Identity:
    """The resident of this browser's Identity session; writes must be same-origin JSON."""
    row = sso.current(request, session)
    if row is None:
        raise CredentialError(401, "unauthorized", "log in at the identity provider first (/resident)")
    if write:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise CredentialError(400, "invalid_input", "send the request as application/json")
        origin = request.headers.get("origin")
        own = urlsplit(str(request.base_url))
        if origin and origin != f"{own.scheme}://{own.netloc}":
            raise CredentialError(403, "forbidden", "a request from another origin is refused")
    return session.get(Identity, row.identity_id)


@router.post("/share-credential", summary="Share a credential (SD-JWT VC) with a partner", response_model=None)
def share_credential(request: Request, payload: Any = Body(None), session: Session = DBSession) -> JSONResponse:
    identity = resident(request, session, write=True)
    app = request.app
    event_id, credential, claims = service.share(
        session, app.state.settings, app.state.secrets, app.state.keyring, identity, request_part(payload), "resident"
    )
    response = {"status": "SUCCESS", "eventId": event_id, "format": "dc+sd-jwt", "credential": credential}
    body = ok(API_IDS["/share-credential"], response | {"disclosedClaims": claims}, errors=False)
    return JSONResponse(body, headers={"eventId": event_id})


@router.get("/events/{event_id}", summary="The status of a resident's event", response_model=None)
def event_status(
    event_id: str, request: Request, language: str = Query("eng", max_length=8), session: Session = DBSession
) -> dict:
    identity = resident(request, session)
    event = events.find(session, identity.id, event_id)
    if event is None:
        raise CredentialError(404, "invalid_event_id", "no such event for this resident")
    return {
        "id": API_IDS["/events"],
        "version": "1.0",
        "requestTime": iso(),
        "response": {**events.as_json(event), "individualId": service.shown_id(session, identity)},
        "errors": [],
    }


@router.post("/download/personalized-card", summary="The personalised card as PDF", response_model=None)
def personalized_card(request: Request, payload: Any = Body(None), session: Session = DBSession) -> Response:
    """`request.attributes` (extension) names what the card shows (default: name, date of birth, gender). The
    spec's `request.html` is not rendered: HTML from the caller could pull remote resources into the PDF."""
    identity = resident(request, session, write=True)
    chosen = request_part(payload).get("attributes") or ["name", "birthdate", "gender"]
    if not isinstance(chosen, list):
        raise CredentialError(400, "invalid_input", "attributes must be a list of attribute names")
    app = request.app
    event_id, pdf = service.card_pdf(
        session, app.state.settings, app.state.secrets, app.state.keyring, identity, chosen, "resident"
    )
    return card_response(event_id, pdf)


def card_response(event_id: str, pdf: bytes) -> Response:
    disposition = 'attachment; filename="personalized-card.pdf"'
    return Response(
        pdf, media_type="application/pdf", headers={"eventId": event_id, "Content-Disposition": disposition}
    )


@router.post("/req/otp", summary="Send an OTP for /update-uin (extension, as MOSIP's resident service)")
def request_otp(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict:
    individual_id = str(request_part(payload).get("individualId") or "").strip()
    settings, secrets_ = request.app.state.settings, request.app.state.secrets
    try:
        ratelimit.authentication_attempt(request, login.PORTAL_CLIENT_ID)
    except ratelimit.RateLimited as exc:
        raise CredentialError(429, "too_many_requests", str(exc)) from None
    transaction, _ = portal_transaction(session, request, ["idbb:acr:generated-code"])
    try:
        login.send_otp(session, settings, secrets_, transaction, individual_id)
    except login.AuthFailed as exc:
        raise CredentialError(400, exc.code, exc.message) from None
    return ok(API_IDS["/req/otp"], {"transactionID": transaction.id, "message": "OTP sent to the phone and e-mail"})


def portal_transaction(session: Session, request: Request, acrs: list[str]) -> tuple[AuthTransaction, str]:
    """A login transaction of the provider's own resident pages (no registered client, no code), its XSRF token."""
    return login.start_transaction(
        session,
        request.app.state.settings,
        request.app.state.secrets,
        client=client_of(session, login.PORTAL_CLIENT_ID),
        redirect_uri="/resident",
        scopes=["openid"],
        essential=[],
        voluntary=[],
        acrs=acrs,
        state=None,
        nonce=None,
        code_challenge=None,
    )


def identity_json(value: Any) -> dict[str, Any]:
    """`identityJson`: base64 of a JSON object, `{"identity": {...}}` or the fields themselves."""
    try:
        decoded = json.loads(base64.b64decode(str(value), validate=True))
    except (ValueError, binascii.Error):
        raise CredentialError(400, "invalid_input", "identityJson must be base64-encoded JSON") from None
    fields = decoded.get("identity", decoded) if isinstance(decoded, dict) else None
    if not isinstance(fields, dict):
        raise CredentialError(400, "invalid_input", "identityJson must encode an object")
    try:
        return attributes(fields)
    except FieldError as exc:
        raise CredentialError(400, "invalid_input", str(exc)) from None


@router.post("/update-uin", summary="Update the resident's contact details, authenticated by an OTP")
def update_uin(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict:
    part = request_part(payload)
    settings, secrets_ = request.app.state.settings, request.app.state.secrets
    transaction = login.live_transaction(session, part.get("transactionID"))
    if transaction is None or transaction.client_id != login.PORTAL_CLIENT_ID or transaction.status != "started":
        raise CredentialError(400, "invalid_transaction", "unknown or expired transactionID; ask /req/otp first")
    challenge = login.Challenge("OTP", "".join(str(part.get("otp") or "").split()))
    changes = identity_json(part.get("identityJson"))  # refused input costs no OTP attempt
    refused = sorted(set(changes) - UPDATABLE_BY_RESIDENT)
    if refused or not changes:
        raise CredentialError(400, "invalid_input", f"a resident may update only {sorted(UPDATABLE_BY_RESIDENT)}")
    try:
        identity = login.authenticate(
            session, settings, secrets_, transaction, str(part.get("individualId")), [challenge]
        )
    except login.AuthFailed as exc:
        session.commit()  # the failed attempt counts
        raise CredentialError(401, exc.code, exc.message) from None
    transaction.status = "consented"
    changed = update_identity(session, identity, changes, source="update-uin", actor="resident")
    event = events.record(
        session,
        identity.id,
        "UPDATE_MY_UIN",
        "Contact details updated",
        actor="resident",
        info={"fields": sorted(changed)},
    )
    notify(
        session,
        identity,
        "identity_updated",
        "Your details changed",
        f"Updated: {', '.join(sorted(changed)) or 'nothing'}.",
    )
    message = "Notification has been sent to the provided contact detail(s)"
    return ok(API_IDS["/update-uin"], {"registrationId": event.event_id, "message": message})


def _day(value: str | None, default: date, name: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CredentialError(400, "invalid_input", f"{name} must be a date (YYYY-MM-DD)") from None


def _whole(value: str | None, default: int, low: int, high: int, name: str) -> int:
    if value in (None, ""):
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise CredentialError(400, "invalid_input", f"{name} must be a whole number from {low} to {high}")
    return int(value)


@router.get("/service-history/{lang_code}", summary="The resident's service history", response_model=None)
def service_history(lang_code: str, request: Request, session: Session = DBSession) -> dict:
    """The spec's `locale` and `time-zone-offset` headers are not required: times are answered in UTC."""
    identity = resident(request, session)
    q = request.query_params
    today = utcnow().date()
    since = _day(q.get("fromDate"), date(today.year, 1, 1), "fromDate")
    until = _day(q.get("toDate"), today, "toDate")
    start = _whole(q.get("pageStart"), 0, 0, 100000, "pageStart")
    size = _whole(q.get("pageFetch"), 10, 1, 100, "pageFetch")
    service_type = q.get("serviceType") or "ALL"
    if service_type != "ALL" and service_type not in events.SERVICE_TYPES:
        raise CredentialError(400, "invalid_input", f"serviceType must be ALL or one of {list(events.SERVICE_TYPES)}")
    statuses = [s for s in (q.get("statusFilter") or "ALL").split(",") if s]
    if not set(statuses) <= {"ALL", *events.STATUSES}:
        raise CredentialError(400, "invalid_input", f"statusFilter: ALL or {list(events.STATUSES)}, comma separated")
    sort = (q.get("sortType") or "ASC").upper()
    if sort not in ("ASC", "DESC") or len(q.get("searchText") or "") > 30:
        raise CredentialError(400, "invalid_input", "sortType is ASC or DESC; searchText at most 30 characters")
    rows, total = events.page(
        session,
        identity.id,
        since=datetime.combine(since, time.min, UTC),
        until=datetime.combine(until, time.min, UTC) + timedelta(days=1),
        event_types=None if service_type == "ALL" else events.SERVICE_TYPES[service_type],
        statuses=None if "ALL" in statuses else tuple(statuses),
        search=q.get("searchText") or "",
        descending=sort == "DESC",
        start=start,
        size=size,
    )
    data = [
        {
            "eventId": e.event_id,
            "eventDescription": e.summary,
            "eventStatus": e.status,
            "timeStamp": iso(e.created_at),
            "requestType": events.SERVICE_TYPE_OF.get(e.event_type, e.event_type),
        }
        for e in rows
    ]
    page = {"pageNo": start, "pageSize": size, "totalItems": total, "totalPages": math.ceil(total / size), "data": data}
    return ok(API_IDS["/service-history"], page, time_key="responseTime")


IDENTITY_STATUSES = {"ACTIVATED": "active", "ACTIVE": "active", "DEACTIVATED": "inactive", "INACTIVE": "inactive"}


@router.patch("/updateIdentity", summary="Activate or deactivate an identity, update attributes (administrator)")
def update_identity_api(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict:
    if not is_admin(request):
        raise CredentialError(401, "unauthorized", "administrator token required")
    part = request_part(payload)
    identity = service.any_identity(session, part.get("uin"))
    if identity is None:
        raise CredentialError(404, "invalid_input", "unknown UIN/VID")
    status = part.get("status")
    if status is not None and status not in IDENTITY_STATUSES:
        raise CredentialError(400, "invalid_input", f"status must be one of {sorted(IDENTITY_STATUSES)}")
    fields = part.get("identity") or {}
    if not isinstance(fields, dict):
        raise CredentialError(400, "invalid_input", "identity must be an object of fields")
    try:
        changes = attributes(fields)
    except FieldError as exc:
        raise CredentialError(400, "invalid_input", str(exc)) from None
    changed = update_identity(session, identity, changes, source="updateIdentity", actor="admin") if changes else {}
    if status is not None and identity.status != IDENTITY_STATUSES[status]:
        changed["status"] = {"old": identity.status, "new": IDENTITY_STATUSES[status]}
        identity.status = IDENTITY_STATUSES[status]
    if changed:
        events.record(
            session,
            identity.id,
            "UPDATE_IDENTITY",
            "Identity updated by the authority",
            actor="admin",
            info={"fields": sorted(changed)},
        )
    answer = "ACTIVATED" if identity.status == "active" else "DEACTIVATED"
    return ok(API_IDS["/updateIdentity"], {"status": answer, "identity": {k: c["new"] for k, c in changed.items()}})


def _block(request: Request, payload: Any, session: Session, blocked: bool) -> dict:
    part = request_part(payload)
    if is_admin(request):
        identity, actor = service.any_identity(session, part.get("id")), "admin"
        if identity is None:
            raise CredentialError(404, "invalid_input", "unknown UIN/VID")
    else:
        identity, actor = resident(request, session, write=True), "resident"
        named = service.any_identity(session, part.get("id")) if part.get("id") else identity
        if named is None or named.id != identity.id:
            raise CredentialError(403, "forbidden", "a resident may block or unblock only their own factors")
    chosen = service.factor_list(part.get("authFactors"))
    until = service.expiry(part.get("expiryTimestamp")) if blocked else None
    now_blocked = service.block(session, identity, chosen, blocked=blocked, until=until, actor=actor)
    response = {
        "id": part.get("id") or service.shown_id(session, identity),
        "idType": part.get("idType") or "VID",
        "status": "BLOCKED" if blocked else "UNBLOCKED",
        "expiryTimestamp": iso(until) if until else None,
        "authFactors": chosen,
        "blockedFactors": sorted(now_blocked),
    }
    return ok(API_IDS["/block" if blocked else "/unblock"], response)


@router.post("/block", summary="Block authentication factors (administrator, or the resident's own)")
def block(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict:
    return _block(request, payload, session, True)


@router.post("/unblock", summary="Unblock authentication factors (administrator, or the resident's own)")
def unblock(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict:
    return _block(request, payload, session, False)
