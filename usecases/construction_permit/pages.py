"""Server-rendered pages (Jinja2) for every persona; each form post comes back with its IM exchanges."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from services.common import demo_world, live
from services.common.errors import APIError
from services.common.im_client import current_message_id
from usecases.common import pages as common_pages
from usecases.common.admin_views import admin_router
from usecases.common.db import Registry as DBSession
from usecases.common.security import csrf_token_for, form_guard

from . import auth, bb, notifications, permit, rules, service
from .api import application_view
from .models import Application, UserSession
from .settings import OFFICER_ROLES

router = APIRouter(include_in_schema=False, dependencies=[Depends(form_guard(auth.SESSION_COOKIE))])
templates = common_pages.templates_for(Path(__file__).parent)
# what each officer works on first
QUEUES = {
    "permit_officer": {"submitted", "visit_proposed", "visit_scheduled", "visit_done", "action_needed"},
    "civil_protection_officer": {"in_clearance"},
    "utilities_officer": {"in_clearance"},
    "mayor": {"awaiting_signature"},
}
PERSONAS = [
    ("applicant (lead architect)", "architect"),
    ("applicant (lead architect)", "architect"),
    ("property owner", "property_owner"),
    ("contractor", "contractor"),
] + [(r.replace("_", " "), r) for r in (*OFFICER_ROLES, "administrator")]


async def _page(
    request: Request, name: str, user: UserSession | None, session: Session, **context: Any
) -> HTMLResponse:
    count = len(_notifications(session, user, 99)) if user else 0
    return templates.TemplateResponse(
        request,
        name,
        {
            "refresh": False,
            "user": user,
            "panel": await common_pages.panel(request),
            "notification_count": count,
            "error": request.query_params.get("error"),
            "csrf_token": csrf_token_for(request, auth.SESSION_COOKIE),
            "settings": request.app.state.settings,
            **context,
        },
    )


def _notifications(session: Session, user: UserSession, limit: int = 50) -> list:
    return notifications.for_user(session, service.audiences_of(session, user), limit)


PERMIT_JOURNEY = [
    "Application drafted",
    "Owner's consent",
    "Submitted",
    "Municipal review",
    "Fee paid",
    "Clearances",
    "Signed and issued",
]
REACHED = {
    "submitted": 3,
    "visit_proposed": 3,
    "visit_scheduled": 3,
    "visit_done": 3,
    "action_needed": 3,
    "rejected": 3,
    "awaiting_payment": 4,
    "in_clearance": 5,
    "awaiting_signature": 6,
    "issued": 7,
}
WAITING = {
    "draft": "The applicant completes the documents and submits the application.",
    "submitted": "The permit officer reviews the application.",
    "visit_proposed": "The applicant chooses one of the proposed field-visit slots.",
    "visit_scheduled": "The permit officer visits the site and records the report.",
    "visit_done": "The permit officer decides on the application.",
    "action_needed": "The applicant sends the documents the permit officer asked for.",
    "awaiting_payment": "The applicant pays the fee; the Payments building block confirms it.",
    "in_clearance": "The utilities and civil-protection authorities give their clearances.",
    "awaiting_signature": "The mayor signs the permit.",
    "issued": "Nothing: the permit is issued. Download it or check it on the public page.",
    "rejected": "Nothing: the application was refused (see the history for the reason).",
}


def _reached(view: dict) -> int:
    if view["state"] == "draft":
        return 2 if view["consentStatus"] == "given" else 1
    return REACHED.get(view["state"], 3)


def _next_step(view: dict) -> tuple[str, str]:
    """What this person can do now on the application, or whom it waits for."""
    roles, state = view["yourRoles"], view["state"]
    kinds = service.DOCUMENT_KINDS
    if "owner" in roles and state == "draft" and view["consentStatus"] == "requested":
        return "Give or refuse your consent as the owner (below).", "Nothing is submitted without it."
    if "applicant" in roles and state in ("draft", "action_needed") and view["missingDocuments"]:
        missing = ", ".join(kinds[k] for k in view["missingDocuments"])
        return f"Upload the missing documents: {missing}.", ""
    if "applicant" in roles and state == "draft" and view["consentStatus"] != "given":
        return "Wait for the owner's consent.", "The owner gives it after logging in with her own ID."
    if "applicant" in roles and state == "awaiting_payment":
        return f"Pay the fee of {view['fee']} USD at your bank.", "The application moves on once Payments confirms it."
    labels = [ACTION_LABELS.get(a, a.replace("_", " ")) for a in view["actions"]]
    if len(labels) == 1:
        return f"{labels[0]}.", ""
    if labels:
        return "Decide: " + ", ".join(labels[:-1]) + f" or {labels[-1].lower()}.", "Under “What you can do”."
    return "Nothing for you to do now. " + WAITING.get(state, ""), ""


def _login_first(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


async def _form(request: Request) -> dict:
    form = await request.form()
    return {k: (form.getlist(k) if k == "slots" else form.get(k)) for k in form if k != "csrf_token"}


def _personas() -> list[dict]:
    seen, rows = set(), []
    for label, role in PERSONAS:
        person = next((r for r in demo_world.with_role(role) if r["vid"] not in seen), None)
        if person:
            seen.add(person["vid"])
            rows.append({"label": label, "name": person["name"], "vid": person["vid"]})
    return rows


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: Session = DBSession) -> Response:
    user = auth.current_user(request, session)
    if user is not None and not request.query_params.get("error"):
        return RedirectResponse("/applications", status_code=303)
    return await _page(
        request,
        "home.html",
        user,
        session,
        personas=_personas(),
        otp=demo_world.sandbox_otp(),
        login_error=request.query_params.get("login_error"),
    )


async def _viewer(request: Request, session: Session) -> UserSession | None:
    """The logged-in user (or None), first linked to the applications that name them (not on a live refresh
    of the page by live.js, which asks no building block anything)."""
    user = auth.current_user(request, session)
    if user is not None and not live.is_live_refresh(request):
        with contextlib.suppress(APIError):  # Identity unreachable: show what is already linked
            await service.link_parties(session, request.app.state.im, request.app.state.settings, user)
    return user


@router.get("/applications", response_class=HTMLResponse)
async def applications(request: Request, session: Session = DBSession) -> Response:
    user = await _viewer(request, session)
    if user is None:
        return _login_first(request)
    return await _applications_page(request, session, user, request.query_params.get("parcel"))


async def _applications_page(
    request: Request, session: Session, user: UserSession, parcel_id: str | None, **context: Any
) -> HTMLResponse:
    rows = [application_view(session, a, user) for a in service.visible_applications(session, user)]
    queue = set().union(*(QUEUES.get(r, set()) for r in user.roles)) if user.roles else set()
    context = {"typed": {}, "errors": {}, **context}
    return await _page(
        request,
        "applications.html",
        user,
        session,
        applications=rows,
        queue=[a for a in rows if a["state"] in queue],
        is_officer=bool(auth.officer_roles(user)),
        parcel=_parcel(parcel_id),
        building_types=rules.building_types(),
        **context,
    )


PARTY_LABELS = {"owner": "owner", "architect": "lead architect", "contractor": "contractor"}
FORM_ERRORS = (  # (a pattern of the API's message, the field, what to tell the person)
    (r"^(owner|architect|contractor) is required", "{0}Vid", "Enter the {label}'s VID and full name."),
    (r"^(owner|architect|contractor)\.vid must", "{0}Vid", "Enter the {label}'s VID: 6 to 20 digits."),
    (r"^(owner|architect|contractor)\.name", "{0}Name", "Enter the {label}'s full name, as on the ID card."),
    (r"^parcelId", "parcel", "This parcel is not in the land registry: check the parcel id."),
    (r"^buildingType", "buildingType", "Choose a building type."),
    (r"is not allowed in the", "buildingType", "This kind of building is not allowed in the parcel's zone."),
    (r"^floorAreaM2 must be a number", "floorAreaM2", "Enter the floor area as a number of m², like 160."),
    (r"at most ([0-9.]+) m²", "floorAreaM2", "Enter a floor area from 1 to {0} m² for this parcel."),
    (r"names another owner", "ownerVid", "The land registry names someone else as this parcel's owner."),
)


def form_errors(message: str) -> dict[str, str]:
    """The API's refusal of an application form as messages for people, keyed by the field they are about."""
    if message.startswith("Identity does not confirm the VID and name of:"):
        roles = [r.strip() for r in message.split(":", 1)[1].split(",")]
        return {
            f"{r}Vid": f"The National ID does not know this VID with this name for the {PARTY_LABELS.get(r, r)}: "
            "check both."
            for r in roles
            if r in PARTY_LABELS
        } or {"form": message}
    for pattern, field, text in FORM_ERRORS:
        if found := re.search(pattern, message):
            groups = found.groups()
            label = PARTY_LABELS.get(groups[0], "") if groups else ""
            return {field.format(*groups): text.format(*groups, label=label)}
    return {"form": message[:1].upper() + message[1:]}


def _parcel(parcel_id: str | None) -> dict | None:
    if not parcel_id:
        return None
    parcel = rules.parcels().get(parcel_id.strip().upper())
    return {"id": parcel_id, "missing": True} if parcel is None else {"missing": False, **parcel.__dict__}


@router.post("/applications")
async def start(request: Request, session: Session = DBSession) -> Response:
    user = auth.require_user(request, session)
    form = await _form(request)
    data = {
        "parcelId": form.get("parcelId"),
        "buildingType": form.get("buildingType"),
        "floorAreaM2": form.get("floorAreaM2"),
        "description": form.get("description"),
        **{role: {"vid": form.get(f"{role}Vid"), "name": form.get(f"{role}Name")} for role in service.PARTY_ROLES},
    }
    try:
        application = await service.start_application(
            session,
            request.app.state.im,
            request.app.state.settings,
            user,
            data,
            current_message_id.get(),
            form.get("formId"),
        )
    except APIError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        return await _applications_page(
            request,
            session,
            user,
            str(form.get("parcelId") or ""),
            typed=form,
            errors=form_errors(str(body.get("message") or common_pages.message(exc))),
            panel=await common_pages.panel(request, current_message_id.get(), "start an application (refused)"),
        )
    request.app.state.publish_now.set()
    return common_pages.back(f"/applications/{application.id}", f"start {application.id}")


@router.get("/applications/{application_id}", response_class=HTMLResponse)
async def application_page(application_id: str, request: Request, session: Session = DBSession) -> Response:
    user = await _viewer(request, session)
    if user is None:
        return _login_first(request)
    try:
        application = service.get_application(session, application_id)
    except APIError as exc:
        return common_pages.error_page(templates, request, exc.status_code, common_pages.message(exc))
    if not service.may_see(session, user, application):
        return RedirectResponse("/applications?error=this+application+is+not+yours", status_code=303)
    view = application_view(session, application, user)
    agreement = None
    owner_asked = "owner" in view["yourRoles"] and application.consent_status in ("requested", "given", "refused")
    if owner_asked and not live.is_live_refresh(request):
        try:
            agreement = await bb.owner_agreement(request.app.state.im, request.app.state.settings)
        except APIError:
            agreement = None
    waiting = application.state == "awaiting_payment" or any(
        h.event_id is None and h.audiences for h in service.history(session, application)
    )
    next_text, next_detail = _next_step(view)
    return await _page(
        request,
        "application.html",
        user,
        session,
        a=view,
        steps=common_pages.tracker(PERMIT_JOURNEY, _reached(view)),
        next_text=next_text,
        next_detail=next_detail,
        agreement=agreement,
        kinds=service.DOCUMENT_KINDS,
        labels=ACTION_LABELS,
        refresh=waiting,
        bank=f"{request.app.state.settings.payments_url.rstrip('/')}/bank/?billId={application.bill_id}",
    )


ACTION_LABELS = {
    "submit": "Submit the application",
    "request_documents": "Request more documents",
    "propose_visit": "Propose field-visit slots",
    "choose_visit_slot": "Choose this slot",
    "record_visit": "Record the visit report",
    "approve_in_principle": "Approve in principle (issue the fee bill)",
    "reject": "Refuse the application",
    "grant_clearance": "Grant clearance",
    "refuse_clearance": "Refuse clearance",
    "sign": "Sign and issue the permit",
}


async def _on_application(
    request: Request,
    session: Session,
    application_id: str,
    what: str,
    step: Callable[[UserSession, Application], Awaitable[None]],
    why: str | None = None,
) -> Response:
    """Runs one step for the logged-in user and goes back to the application page with its exchanges."""
    user = auth.require_user(request, session)
    path = f"/applications/{application_id}"
    try:
        application = service.get_application(session, application_id)
        await step(user, application)
    except APIError as exc:
        return common_pages.back(path, what, common_pages.message(exc))
    request.app.state.publish_now.set()
    return common_pages.back(path, what, why=why)


@router.post("/applications/{application_id}/documents")
async def upload(application_id: str, request: Request, session: Session = DBSession) -> Response:
    form = await request.form()
    upload = form.get("file")

    async def step(user: UserSession, application: Application) -> None:
        if upload is None or isinstance(upload, str):
            raise service.invalid("choose a file")
        content = await upload.read(request.app.state.settings.max_document_bytes + 1)
        service.add_document(
            session,
            request.app.state.settings,
            user,
            application,
            str(form.get("kind")),
            upload.filename or "",
            upload.content_type or "",
            content,
            current_message_id.get(),
        )

    why = "the municipality keeps the plans itself; no building block holds documents"
    return await _on_application(request, session, application_id, "upload a document", step, why)


@router.post("/applications/{application_id}/consent")
async def consent(application_id: str, request: Request, session: Session = DBSession) -> Response:
    form = await _form(request)

    async def step(user: UserSession, application: Application) -> None:
        await service.decide_consent(
            session,
            request.app.state.im,
            request.app.state.settings,
            user,
            application,
            str(form.get("decision")),
            current_message_id.get(),
        )

    return await _on_application(request, session, application_id, f"consent: {form.get('decision')}", step)


@router.post("/applications/{application_id}/actions/{action}")
async def take_action(application_id: str, action: str, request: Request, session: Session = DBSession) -> Response:
    form = await _form(request)

    async def step(user: UserSession, application: Application) -> None:
        await service.act(
            session,
            request.app.state.im,
            request.app.state.settings,
            user,
            application,
            action,
            form,
            current_message_id.get(),
        )

    why = "the municipality decides this step itself; the people concerned hear of it through the IM's notifications"
    return await _on_application(request, session, application_id, action.replace("_", " "), step, why)


@router.post("/applications/{application_id}/request-to-pay")
async def request_to_pay(application_id: str, request: Request, session: Session = DBSession) -> Response:
    async def step(user: UserSession, application: Application) -> None:
        await service.request_to_pay(
            session, request.app.state.im, request.app.state.settings, user, application, current_message_id.get()
        )

    return await _on_application(request, session, application_id, "request to pay", step)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, session: Session = DBSession) -> Response:
    user = auth.current_user(request, session)
    if user is None:
        return _login_first(request)
    return await _page(request, "notifications.html", user, session, notifications=_notifications(session, user))


@router.get("/verify", response_class=HTMLResponse)
async def verify(request: Request, permit_number: str = "", code: str = "", session: Session = DBSession) -> Response:
    number = request.query_params.get("permit", permit_number)[:30]
    code = code[:30]
    result = permit.check(session, request.app.state.settings, number, code) if number and code else None
    return await _page(
        request,
        "verify.html",
        auth.current_user(request, session),
        session,
        number=number,
        code=code,
        checked=bool(number and code),
        facts=result,
    )


@router.get(
    "/.well-known/jwks.json",
    include_in_schema=True,
    tags=["construction permit"],
    summary="Public: the key that seals permits (verify a permit's seal offline)",
)
def jwks(request: Request) -> dict:
    return permit.public_jwks(request.app.state.settings)


async def _admin_page(request: Request, session: Session, user: UserSession, context: dict) -> HTMLResponse:
    return await _page(request, "admin.html", user, session, **context)


admin = admin_router(auth.ROLES, auth.SESSION_COOKIE, _admin_page)
