"""The REST API (`/api/v1`): what the pages do, for scripts, the demo command and other teams' tests.
Every answer that caused building-block calls carries the IM `messageId` they shared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from services.common.im_client import current_message_id
from usecases.common import trace
from usecases.common.schemas import AS_BUILT, Answer, TraceAnswer, Traced

from . import auth, notifications, permit, rules, service, states
from .dependencies import DB, IM, Settings, WakePublisher
from .models import Application, Document, UserSession

router = APIRouter(prefix="/api/v1", tags=["construction permit"])


# The JSON bodies. The fields are typed and documented here; what needs the land registry, Identity or the
# application's state is checked by `service`, which answers 422 with the messages the API has always given
# (a missing field is such a refusal too, hence the optional fields).


class PartyIn(BaseModel):
    vid: str | int | None = Field(default=None, description="the person's VID: 6 to 20 digits")
    name: str | None = Field(default=None, description="their full name, as on the ID (at most 200 characters)")


class ApplicationStart(BaseModel):
    parcelId: str | None = Field(default=None, description="a parcel of the land registry, e.g. SBX-0101-0042")
    buildingType: str | None = Field(default=None, description="a code of GET /api/v1/building-types")
    floorAreaM2: float | str | None = Field(default=None, description="floor area in m²")
    description: str | None = Field(default=None, description="what will be built (at most 1000 characters kept)")
    owner: PartyIn | None = Field(default=None, description="the owner the land registry names")
    architect: PartyIn | None = Field(default=None, description="the lead architect")
    contractor: PartyIn | None = None


class ConsentDecision(BaseModel):
    decision: str | None = Field(default=None, description="give or refuse")


class ActionFacts(BaseModel):
    """What an action needs: `note` (request_documents, reject; optional on approve_in_principle and the
    clearances), `slots` (propose_visit), `slot` (choose_visit_slot), `report` (record_visit)."""

    model_config = ConfigDict(extra="allow")

    note: str | None = None
    slots: list[str] | str | None = Field(default=None, description="ISO 8601 date-times (a list, or comma-separated)")
    slot: str | None = None
    report: str | None = None


# Answers (for the OpenAPI document; see usecases/common/schemas.py) ---------------------------------------------

Number = int | float


class ParcelOut(Answer):
    id: str
    address: str
    area_m2: Number
    zoning: str
    restrictions: list[str]
    allowed_building_types: list[str]


class BuildingTypeOut(Answer):
    code: str
    label: str
    zoning: list[str]
    base: Number = Field(description="USD")
    per_m2: Number = Field(description="USD per m² of floor area")
    clearances: list[str] = Field(description="the authorities that must clear this kind of building")


class BuildingTypesAnswer(Answer):
    building_types: list[BuildingTypeOut]


class PartyOut(Answer):
    role: str
    name: str
    vid: str
    you: bool = Field(description="the logged-in user is this party")


class DocumentOut(Answer):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str


class ClearanceOut(Answer):
    authority: str
    status: str
    decided_by: str | None = None
    note: str | None = None


class PermitOut(Answer):
    number: str
    verification_code: str
    pdf: str = Field(description="path of the permit PDF")
    verify: str = Field(description="path of the public verification page")


class HistoryOut(Answer):
    action: str
    actor: str
    from_state: str | None = Field(default=None, alias="from")
    to: str
    note: str | None = None
    message_id: str | None = None
    at: str


class ApplicationOut(Answer):
    id: str
    state: str
    parcel: ParcelOut
    building_type: str
    floor_area_m2: Number
    description: str | None = None
    applicant: str
    parties: list[PartyOut]
    consent_status: str
    documents: list[DocumentOut]
    missing_documents: list[str]
    documents_requested: str | None = None
    visit_slots: list[str]
    visit_at: str | None = None
    visit_report: str | None = None
    decision_note: str | None = None
    fee: int | None = Field(default=None, description="USD, once approved in principle")
    bill_id: str | None = None
    clearances: list[ClearanceOut]
    permit: PermitOut | None = None
    your_roles: list[str]
    actions: list[str] = Field(description="the actions you may take now")
    history: list[HistoryOut]


class ApplicationAnswer(Traced):
    application: ApplicationOut


class ApplicationsAnswer(Answer):
    applications: list[ApplicationOut]


class RolesAnswer(Answer):
    authenticated: bool
    name: str | None = None
    roles: list[str]


class PermitCheck(Answer):
    valid: bool
    permit: dict[str, Any] | None = Field(description="the sealed facts of the permit, when valid")


class NotificationOut(Answer):
    application_id: str
    text: str
    event_id: str
    at: str


class NotificationsAnswer(Answer):
    notifications: list[NotificationOut]


def parcel_view(parcel: rules.Parcel) -> dict:
    return {
        "id": parcel.id,
        "address": parcel.address,
        "areaM2": parcel.area_m2,
        "zoning": parcel.zoning,
        "restrictions": list(parcel.restrictions),
        "allowedBuildingTypes": [t.code for t in rules.building_types().values() if rules.allowed_on(parcel, t)],
    }


def application_view(session: Session, application: Application, user: UserSession) -> dict:
    roles = service.roles_on(session, user, application)
    return {
        "id": application.id,
        "state": application.state,
        "parcel": parcel_view(rules.parcels()[application.parcel_id]),
        "buildingType": application.building_type,
        "floorAreaM2": application.floor_area_m2,
        "description": application.description,
        "applicant": application.applicant_name,
        "parties": [
            {"role": p.role, "name": p.name, "vid": p.vid, "you": p.sub == user.sub}
            for p in service.parties(session, application).values()
        ],
        "consentStatus": application.consent_status,
        "documents": [
            {
                "id": d.id,
                "kind": d.kind,
                "filename": d.filename,
                "contentType": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
            }
            for d in service.documents(session, application)
        ],
        "missingDocuments": service.missing_documents(session, application),
        "documentsRequested": application.documents_requested,
        "visitSlots": application.visit_slots,
        "visitAt": application.visit_at,
        "visitReport": application.visit_report,
        "decisionNote": application.decision_note,
        "fee": application.fee,
        "billId": application.bill_id,
        "clearances": [
            {"authority": c.authority, "status": c.status, "decidedBy": c.decided_by, "note": c.note}
            for c in service.clearances(session, application)
        ],
        "permit": None
        if not application.permit_number
        else {
            "number": application.permit_number,
            "verificationCode": application.permit_code,
            "pdf": f"/api/v1/applications/{application.id}/permit.pdf",
            "verify": f"/verify?permit={application.permit_number}&code={application.permit_code}",
        },
        "yourRoles": sorted(roles),
        "actions": states.available(application.state, roles),
        "history": [
            {
                "action": h.action,
                "actor": h.actor,
                "from": h.from_state,
                "to": h.to_state,
                "note": h.note,
                "messageId": h.message_id,
                "at": h.at.isoformat(),
            }
            for h in service.history(session, application)
        ],
    }


def _visible(request: Request, session: Session, application_id: str) -> tuple[UserSession, Application]:
    user = auth.require_user(request, session)
    application = service.get_application(session, application_id)
    if not service.may_see(session, user, application):
        raise service.refused(403, "forbidden", "this application is not yours")
    return user, application


def _answer(session: Session, application: Application, user: UserSession, wake: WakePublisher) -> dict:
    wake()
    return {"application": application_view(session, application, user), "messageId": current_message_id.get()}


@router.get(
    "/roles",
    summary="The logged-in user's name and roles (from role assignments)",
    response_model=RolesAnswer,
    **AS_BUILT,
)
def roles(request: Request, session: DB) -> dict:
    user = auth.current_user(request, session)
    if user is None:
        return {"authenticated": False, "roles": []}
    return {"authenticated": True, "name": user.name, "roles": user.roles}


@router.get(
    "/parcels/{parcel_id}",
    summary="A parcel of the land registry (owner is not disclosed)",
    response_model=ParcelOut,
    **AS_BUILT,
)
def get_parcel(parcel_id: str) -> dict:
    parcel = rules.parcels().get(parcel_id.upper())
    if parcel is None:
        raise service.refused(404, "not_found", f"no parcel {parcel_id} in the land registry")
    return parcel_view(parcel)


@router.get(
    "/building-types",
    summary="Building types, their fee (base + per m²) and the clearances they need",
    response_model=BuildingTypesAnswer,
    **AS_BUILT,
)
def building_types() -> dict:
    return {
        "buildingTypes": [
            {
                "code": t.code,
                "label": t.label,
                "zoning": list(t.zoning),
                "base": t.base,
                "perM2": t.per_m2,
                "clearances": list(t.clearances),
            }
            for t in rules.building_types().values()
        ]
    }


@router.post(
    "/applications",
    status_code=201,
    summary="Start an application (parcel, plan, owner, architect, contractor)",
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def start(
    request: Request,
    body: ApplicationStart,
    session: DB,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
    idempotency_key: str | None = Header(default=None, max_length=64),
) -> dict:
    user = auth.require_user(request, session)
    application = service.start_application(
        session, im, settings, user, body, current_message_id.get(), idempotency_key
    )
    session.flush()
    return _answer(session, application, user, wake)


@router.get(
    "/applications",
    summary="The applications you may see (officers: all)",
    response_model=ApplicationsAnswer,
    **AS_BUILT,
)
def list_applications(request: Request, session: DB, im: IM, settings: Settings) -> dict:
    user = auth.require_user(request, session)
    service.link_parties(session, im, settings, user)
    return {"applications": [application_view(session, a, user) for a in service.visible_applications(session, user)]}


@router.get(
    "/applications/{application_id}",
    summary="One application with its documents, clearances and history",
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def get_application(application_id: str, request: Request, session: DB, im: IM, settings: Settings) -> dict:
    service.link_parties(session, im, settings, auth.require_user(request, session))
    user, application = _visible(request, session, application_id)
    return {"application": application_view(session, application, user)}


@router.post(
    "/applications/{application_id}/documents",
    status_code=201,
    summary="Upload a document (PDF, PNG or JPEG); stored with its SHA-256",
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def upload(
    application_id: str,
    request: Request,
    session: DB,
    settings: Settings,
    wake: WakePublisher,
    kind: str = Form(max_length=30),
    file: UploadFile = File(),
) -> dict:
    user, application = _visible(request, session, application_id)
    content = file.file.read(settings.max_document_bytes + 1)
    service.add_document(
        session,
        settings,
        user,
        application,
        kind,
        file.filename or kind,
        file.content_type or "",
        content,
        current_message_id.get(),
    )
    session.flush()
    return _answer(session, application, user, wake)


@router.get("/applications/{application_id}/documents/{document_id}", summary="Download a document")
def download(application_id: str, document_id: int, request: Request, session: DB) -> Response:
    _, application = _visible(request, session, application_id)
    document = session.get(Document, document_id)
    if document is None or document.application_id != application.id:
        raise service.refused(404, "not_found", "no such document")
    return Response(
        document.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document.kind}-{document.id}"',
            "X-SHA256": document.sha256,
        },
    )


@router.put(
    "/applications/{application_id}/consent",
    summary="The owner gives or refuses consent (Consent BB)",
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def consent(
    application_id: str,
    request: Request,
    body: ConsentDecision,
    session: DB,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
) -> dict:
    user = auth.require_user(request, session)
    service.link_parties(session, im, settings, user)
    application = service.get_application(session, application_id)
    service.decide_consent(
        session,
        im,
        settings,
        user,
        application,
        str(body.decision),
        current_message_id.get(),
    )
    return _answer(session, application, user, wake)


@router.post(
    "/applications/{application_id}/actions/{action}",
    summary="Take an action: " + ", ".join(a for a, r in states.ACTIONS.items() if states.SYSTEM not in r.roles),
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def take_action(
    application_id: str,
    action: str,
    request: Request,
    session: DB,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
    body: ActionFacts | None = None,
) -> dict:
    user, application = _visible(request, session, application_id)
    service.act(
        session,
        im,
        settings,
        user,
        application,
        action,
        body.model_dump(exclude_none=True) if body else {},
        current_message_id.get(),
    )
    session.flush()
    return _answer(session, application, user, wake)


@router.post(
    "/applications/{application_id}/request-to-pay",
    summary="Send the fee as a request-to-pay to the applicant's bank (P2G, through the hub)",
    response_model=ApplicationAnswer,
    **AS_BUILT,
)
def request_to_pay(
    application_id: str, request: Request, session: DB, im: IM, settings: Settings, wake: WakePublisher
) -> dict:
    user, application = _visible(request, session, application_id)
    service.request_to_pay(session, im, settings, user, application, current_message_id.get())
    return _answer(session, application, user, wake)


@router.get("/applications/{application_id}/permit.pdf", summary="The issued permit as a PDF")
def permit_pdf(application_id: str, request: Request, session: DB, settings: Settings) -> Response:
    _, application = _visible(request, session, application_id)
    if not application.permit_seal:
        raise service.refused(404, "not_found", "no permit has been issued for this application")
    facts = permit.open_seal(application.permit_seal, permit.seal_key(settings))
    pdf = permit.render_pdf(
        facts, application.permit_code, permit.verify_url(settings, facts.permit_number, application.permit_code)
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{application.permit_number}.pdf"'},
    )


@router.get(
    "/permits/{permit_number}",
    summary="Public: is this permit authentic? (number + verification code)",
    response_model=PermitCheck,
    **AS_BUILT,
)
def verify_permit(permit_number: str, session: DB, settings: Settings, code: str = "") -> dict:
    result = permit.check(session, settings, permit_number, code)
    return {
        "valid": result is not None,
        "permit": None if result is None else result.__dict__ | {"clearances": list(result.clearances)},
    }


@router.get(
    "/notifications",
    summary="Your notifications (events delivered by the IM room)",
    response_model=NotificationsAnswer,
    **AS_BUILT,
)
def my_notifications(request: Request, session: DB) -> dict:
    user = auth.require_user(request, session)
    rows = notifications.for_user(session, service.audiences_of(session, user))
    return {
        "notifications": [
            {"applicationId": n.application_id, "text": n.text, "eventId": n.event_id, "at": n.created_at.isoformat()}
            for n in rows
        ]
    }


@router.get(
    "/trace/{message_id}",
    summary="The IM exchanges of one action (the behind-the-scenes panel)",
    response_model=TraceAnswer,
    **AS_BUILT,
)
def exchanges(message_id: str, request: Request, session: DB, settings: Settings) -> dict:
    auth.require_user(request, session)
    return {
        "messageId": message_id,
        "traceUrl": trace.trace_link(settings, message_id),
        "exchanges": trace.exchanges(settings, message_id),
    }
