"""The REST API (`/api/v1`): what the pages do, for scripts, the demo command and other teams' tests.
Every answer that caused building-block calls carries the IM `messageId` they shared."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from services.common.im_client import current_message_id
from usecases.common import trace
from usecases.common.db import Registry as DBSession

from . import auth, notifications, permit, rules, service, states
from .models import Application, Document, UserSession

router = APIRouter(prefix="/api/v1", tags=["construction permit"])


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


def _answer(request: Request, session: Session, application: Application, user: UserSession) -> dict:
    request.app.state.publish_now.set()
    return {"application": application_view(session, application, user), "messageId": current_message_id.get()}


@router.get("/roles", summary="The logged-in user's name and roles (from role assignments)")
def roles(request: Request, session: Session = DBSession) -> dict:
    user = auth.current_user(request, session)
    if user is None:
        return {"authenticated": False, "roles": []}
    return {"authenticated": True, "name": user.name, "roles": user.roles}


@router.get("/parcels/{parcel_id}", summary="A parcel of the land registry (owner is not disclosed)")
def get_parcel(parcel_id: str) -> dict:
    parcel = rules.parcels().get(parcel_id.upper())
    if parcel is None:
        raise service.refused(404, "not_found", f"no parcel {parcel_id} in the land registry")
    return parcel_view(parcel)


@router.get("/building-types", summary="Building types, their fee (base + per m²) and the clearances they need")
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
    "/applications", status_code=201, summary="Start an application (parcel, plan, owner, architect, contractor)"
)
async def start(
    request: Request,
    body: dict,
    idempotency_key: str | None = Header(default=None, max_length=64),
    session: Session = DBSession,
) -> dict:
    user = auth.require_user(request, session)
    application = await service.start_application(
        session, request.app.state.im, request.app.state.settings, user, body, current_message_id.get(), idempotency_key
    )
    session.flush()
    return _answer(request, session, application, user)


@router.get("/applications", summary="The applications you may see (officers: all)")
async def list_applications(request: Request, session: Session = DBSession) -> dict:
    user = auth.require_user(request, session)
    await service.link_parties(session, request.app.state.im, request.app.state.settings, user)
    return {"applications": [application_view(session, a, user) for a in service.visible_applications(session, user)]}


@router.get("/applications/{application_id}", summary="One application with its documents, clearances and history")
async def get_application(application_id: str, request: Request, session: Session = DBSession) -> dict:
    await service.link_parties(
        session, request.app.state.im, request.app.state.settings, auth.require_user(request, session)
    )
    user, application = _visible(request, session, application_id)
    return {"application": application_view(session, application, user)}


@router.post(
    "/applications/{application_id}/documents",
    status_code=201,
    summary="Upload a document (PDF, PNG or JPEG); stored with its SHA-256",
)
async def upload(
    application_id: str,
    request: Request,
    kind: str = Form(max_length=30),
    file: UploadFile = File(),
    session: Session = DBSession,
) -> dict:
    user, application = _visible(request, session, application_id)
    content = await file.read(request.app.state.settings.max_document_bytes + 1)
    service.add_document(
        session,
        request.app.state.settings,
        user,
        application,
        kind,
        file.filename or kind,
        file.content_type or "",
        content,
        current_message_id.get(),
    )
    session.flush()
    return _answer(request, session, application, user)


@router.get("/applications/{application_id}/documents/{document_id}", summary="Download a document")
def download(application_id: str, document_id: int, request: Request, session: Session = DBSession) -> Response:
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


@router.put("/applications/{application_id}/consent", summary="The owner gives or refuses consent (Consent BB)")
async def consent(application_id: str, request: Request, body: dict, session: Session = DBSession) -> dict:
    user = auth.require_user(request, session)
    await service.link_parties(session, request.app.state.im, request.app.state.settings, user)
    application = service.get_application(session, application_id)
    await service.decide_consent(
        session,
        request.app.state.im,
        request.app.state.settings,
        user,
        application,
        str(body.get("decision")),
        current_message_id.get(),
    )
    return _answer(request, session, application, user)


@router.post(
    "/applications/{application_id}/actions/{action}",
    summary="Take an action: " + ", ".join(a for a, r in states.ACTIONS.items() if states.SYSTEM not in r.roles),
)
async def take_action(
    application_id: str, action: str, request: Request, body: dict | None = None, session: Session = DBSession
) -> dict:
    user, application = _visible(request, session, application_id)
    await service.act(
        session,
        request.app.state.im,
        request.app.state.settings,
        user,
        application,
        action,
        body or {},
        current_message_id.get(),
    )
    session.flush()
    return _answer(request, session, application, user)


@router.post(
    "/applications/{application_id}/request-to-pay",
    summary="Send the fee as a request-to-pay to the applicant's bank (P2G, through the hub)",
)
async def request_to_pay(application_id: str, request: Request, session: Session = DBSession) -> dict:
    user, application = _visible(request, session, application_id)
    await service.request_to_pay(
        session, request.app.state.im, request.app.state.settings, user, application, current_message_id.get()
    )
    return _answer(request, session, application, user)


@router.get("/applications/{application_id}/permit.pdf", summary="The issued permit as a PDF")
def permit_pdf(application_id: str, request: Request, session: Session = DBSession) -> Response:
    _, application = _visible(request, session, application_id)
    if not application.permit_seal:
        raise service.refused(404, "not_found", "no permit has been issued for this application")
    settings = request.app.state.settings
    facts = permit.open_seal(application.permit_seal, permit.seal_key(settings))
    pdf = permit.render_pdf(
        facts, application.permit_code, permit.verify_url(settings, facts.permit_number, application.permit_code)
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{application.permit_number}.pdf"'},
    )


@router.get("/permits/{permit_number}", summary="Public: is this permit authentic? (number + verification code)")
def verify_permit(permit_number: str, request: Request, code: str = "", session: Session = DBSession) -> dict:
    result = permit.check(session, request.app.state.settings, permit_number, code)
    return {
        "valid": result is not None,
        "permit": None if result is None else result.__dict__ | {"clearances": list(result.clearances)},
    }


@router.get("/notifications", summary="Your notifications (events delivered by the IM room)")
def my_notifications(request: Request, session: Session = DBSession) -> dict:
    user = auth.require_user(request, session)
    rows = notifications.for_user(session, service.audiences_of(session, user))
    return {
        "notifications": [
            {"applicationId": n.application_id, "text": n.text, "eventId": n.event_id, "at": n.created_at.isoformat()}
            for n in rows
        ]
    }


@router.get("/trace/{message_id}", summary="The IM exchanges of one action (the behind-the-scenes panel)")
async def exchanges(message_id: str, request: Request, session: Session = DBSession) -> dict:
    auth.require_user(request, session)
    settings = request.app.state.settings
    return {
        "messageId": message_id,
        "traceUrl": trace.trace_link(settings, message_id),
        "exchanges": await trace.exchanges(settings, message_id),
    }
