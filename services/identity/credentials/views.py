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
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.common.errors import error_shape
from services.identity.credentials import events, service
from services.identity.credentials.envelope import API_IDS, CredentialError, ok, render
from services.identity.credentials.schemas import (
    BlockRequest,
    CardRequest,
    EventStatus,
    FactorsBlocked,
    HistoryPage,
    IdentityUpdated,
    IdentityUpdateRequest,
    OtpRequest,
    OtpSent,
    SharedCredential,
    ShareRequest,
    UinUpdated,
    UinUpdateRequest,
)
from services.identity.dependencies import (
    AdminOnly,
    DbSession,
    IsAdmin,
    RateLimits,
    ServerSecrets,
    Settings,
    SigningKeys,
)
from services.identity.enrollment.fields import FieldError, attributes
from services.identity.identities.models import Identity
from services.identity.identities.service import update_identity
from services.identity.notifications.service import notify
from services.identity.oidc import service as login
from services.identity.oidc import sso
from services.identity.oidc.models import AuthTransaction
from services.identity.oidc.pages import client_of
from services.identity.schemas import CredentialEnvelope, CredentialRequest
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings

router = APIRouter(tags=["Credential management"], route_class=error_shape(render))
UPDATABLE_BY_RESIDENT = {"phone_number", "email", "address"}  # contact details; the rest needs an enrollment


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


def _reading_resident(request: Request, session: DbSession) -> Identity:
    return resident(request, session)


def _writing_resident(request: Request, session: DbSession) -> Identity:
    return resident(request, session, write=True)


# Dependencies: the resident is known (or the call refused) before the body is read.
Resident = Annotated[Identity, Depends(_reading_resident)]
WritingResident = Annotated[Identity, Depends(_writing_resident)]


@router.post(
    "/share-credential",
    summary="Share a credential (SD-JWT VC) with a partner",
    response_model=CredentialEnvelope[SharedCredential],
    response_model_exclude_unset=True,
)
def share_credential(
    identity: WritingResident,
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    keys: SigningKeys,
    payload: CredentialRequest[ShareRequest],
) -> JSONResponse:
    request = payload.request.model_dump(exclude_unset=True)
    event_id, credential, claims = service.share(session, settings, secrets, keys, identity, request, "resident")
    response = {"status": "SUCCESS", "eventId": event_id, "format": "dc+sd-jwt", "credential": credential}
    body = ok(API_IDS["/share-credential"], response | {"disclosedClaims": claims}, errors=False)
    return JSONResponse(body, headers={"eventId": event_id})


@router.get(
    "/events/{event_id}",
    summary="The status of a resident's event",
    response_model=CredentialEnvelope[EventStatus],
    response_model_exclude_unset=True,
)
def event_status(
    event_id: str, identity: Resident, session: DbSession, language: str = Query("eng", max_length=8)
) -> dict:
    event = events.find(session, identity.id, event_id)
    if event is None:
        raise CredentialError(404, "invalid_event_id", "no such event for this resident")
    return {
        "id": API_IDS["/events"],
        "version": "1.0",
        "requestTime": iso(utcnow(), "milliseconds"),
        "response": {**events.as_json(event), "individualId": service.shown_id(session, identity)},
        "errors": [],
    }


@router.post(
    "/download/personalized-card",
    summary="The personalised card as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
)
def personalized_card(
    identity: WritingResident,
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    keys: SigningKeys,
    payload: CredentialRequest[CardRequest],
) -> Response:
    """`request.attributes` (extension) names what the card shows (default: name, date of birth, gender). The
    spec's `request.html` is not rendered: HTML from the caller could pull remote resources into the PDF."""
    chosen = payload.request.attributes or ["name", "birthdate", "gender"]
    if not isinstance(chosen, list):
        raise CredentialError(400, "invalid_input", "attributes must be a list of attribute names")
    event_id, pdf = service.card_pdf(session, settings, secrets, keys, identity, chosen, "resident")
    return card_response(event_id, pdf)


def card_response(event_id: str, pdf: bytes) -> Response:
    disposition = 'attachment; filename="personalized-card.pdf"'
    return Response(
        pdf, media_type="application/pdf", headers={"eventId": event_id, "Content-Disposition": disposition}
    )


@router.post(
    "/req/otp",
    summary="Send an OTP for /update-uin (extension, as MOSIP's resident service)",
    response_model=CredentialEnvelope[OtpSent],
    response_model_exclude_unset=True,
)
def request_otp(
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    limits: RateLimits,
    payload: CredentialRequest[OtpRequest],
) -> dict:
    individual_id = str(payload.request.individualId or "").strip()
    limits.authentication.hit(login.PORTAL_CLIENT_ID)
    transaction, _ = portal_transaction(session, settings, secrets, ["idbb:acr:generated-code"])
    try:
        login.send_otp(session, settings, secrets, transaction, individual_id)
    except login.AuthFailed as exc:
        raise CredentialError(400, exc.code, exc.message) from None
    return ok(API_IDS["/req/otp"], {"transactionID": transaction.id, "message": "OTP sent to the phone and e-mail"})


def portal_transaction(
    session: Session, settings: IdentitySettings, secrets: Secrets, acrs: list[str]
) -> tuple[AuthTransaction, str]:
    """A login transaction of the provider's own resident pages (no registered client, no code), its XSRF token."""
    return login.start_transaction(
        session,
        settings,
        secrets,
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


@router.post(
    "/update-uin",
    summary="Update the resident's contact details, authenticated by an OTP",
    response_model=CredentialEnvelope[UinUpdated],
    response_model_exclude_unset=True,
)
def update_uin(
    session: DbSession, settings: Settings, secrets: ServerSecrets, payload: CredentialRequest[UinUpdateRequest]
) -> dict:
    part = payload.request
    transaction = login.live_transaction(session, part.transactionID)
    if transaction is None or transaction.client_id != login.PORTAL_CLIENT_ID or transaction.status != "started":
        raise CredentialError(400, "invalid_transaction", "unknown or expired transactionID; ask /req/otp first")
    challenge = login.Challenge("OTP", "".join(str(part.otp or "").split()))
    changes = identity_json(part.identityJson)  # refused input costs no OTP attempt
    refused = sorted(set(changes) - UPDATABLE_BY_RESIDENT)
    if refused or not changes:
        raise CredentialError(400, "invalid_input", f"a resident may update only {sorted(UPDATABLE_BY_RESIDENT)}")
    try:
        identity = login.authenticate(session, settings, secrets, transaction, str(part.individualId), [challenge])
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


@router.get(
    "/service-history/{lang_code}",
    summary="The resident's service history",
    response_model=CredentialEnvelope[HistoryPage],
    response_model_exclude_unset=True,
)
def service_history(lang_code: str, request: Request, session: DbSession) -> dict:
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
            "timeStamp": iso(e.created_at, "milliseconds"),
            "requestType": events.SERVICE_TYPE_OF.get(e.event_type, e.event_type),
        }
        for e in rows
    ]
    page = {"pageNo": start, "pageSize": size, "totalItems": total, "totalPages": math.ceil(total / size), "data": data}
    return ok(API_IDS["/service-history"], page, time_key="responseTime")


IDENTITY_STATUSES = {"ACTIVATED": "active", "ACTIVE": "active", "DEACTIVATED": "inactive", "INACTIVE": "inactive"}


@router.patch(
    "/updateIdentity",
    dependencies=[AdminOnly],
    summary="Activate or deactivate an identity, update attributes (administrator)",
    response_model=CredentialEnvelope[IdentityUpdated],
    response_model_exclude_unset=True,
)
def update_identity_api(session: DbSession, payload: CredentialRequest[IdentityUpdateRequest]) -> dict:
    part = payload.request
    identity = service.any_identity(session, part.uin)
    if identity is None:
        raise CredentialError(404, "invalid_input", "unknown UIN/VID")
    status = part.status
    if status is not None and status not in IDENTITY_STATUSES:
        raise CredentialError(400, "invalid_input", f"status must be one of {sorted(IDENTITY_STATUSES)}")
    fields = part.identity or {}
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


def _block(request: Request, session: Session, admin: bool, part: BlockRequest, blocked: bool) -> dict:
    if admin:
        identity, actor = service.any_identity(session, part.id), "admin"
        if identity is None:
            raise CredentialError(404, "invalid_input", "unknown UIN/VID")
    else:
        identity, actor = resident(request, session, write=True), "resident"
        named = service.any_identity(session, part.id) if part.id else identity
        if named is None or named.id != identity.id:
            raise CredentialError(403, "forbidden", "a resident may block or unblock only their own factors")
    chosen = service.factor_list(part.authFactors)
    until = service.expiry(part.expiryTimestamp) if blocked else None
    now_blocked = service.block(session, identity, chosen, blocked=blocked, until=until, actor=actor)
    response = {
        "id": part.id or service.shown_id(session, identity),
        "idType": part.idType or "VID",
        "status": "BLOCKED" if blocked else "UNBLOCKED",
        "expiryTimestamp": iso(until, "milliseconds") if until else None,
        "authFactors": chosen,
        "blockedFactors": sorted(now_blocked),
    }
    return ok(API_IDS["/block" if blocked else "/unblock"], response)


@router.post(
    "/block",
    summary="Block authentication factors (administrator, or the resident's own)",
    response_model=CredentialEnvelope[FactorsBlocked],
    response_model_exclude_unset=True,
)
def block(request: Request, session: DbSession, admin: IsAdmin, payload: CredentialRequest[BlockRequest]) -> dict:
    return _block(request, session, admin, payload.request, True)


@router.post(
    "/unblock",
    summary="Unblock authentication factors (administrator, or the resident's own)",
    response_model=CredentialEnvelope[FactorsBlocked],
    response_model_exclude_unset=True,
)
def unblock(request: Request, session: DbSession, admin: IsAdmin, payload: CredentialRequest[BlockRequest]) -> dict:
    return _block(request, session, admin, payload.request, False)
