"""Server-rendered pages (Jinja2) for every persona; each form post comes back with its IM exchanges."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from services.common import demo_world, live
from services.common.errors import APIError
from services.common.im_client import IMClient, current_message_id
from usecases.common import pages as common_pages
from usecases.common.admin_views import admin_router
from usecases.common.dependencies import settings_of
from usecases.common.security import csrf_token_for, form_guard

from . import auth, bb, notifications, permit, rules, service
from .api import ApplicationStart, application_view
from .dependencies import DB, IM, FormFields, Settings, WakePublisher
from .models import Application, UserSession
from .settings import OFFICER_ROLES, ConstructionPermitSettings

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


def _page(request: Request, name: str, user: UserSession | None, session: Session, **context: Any) -> HTMLResponse:
    count = len(_notifications(session, user, 99)) if user else 0
    return templates.TemplateResponse(
        request,
        name,
        {
            "refresh": False,
            "user": user,
            "panel": common_pages.panel(request),
            "notification_count": count,
            "error": request.query_params.get("error"),
            "csrf_token": csrf_token_for(request, auth.SESSION_COOKIE),
            "settings": settings_of(request),
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


def _fields(form: FormData) -> dict:
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
def home(request: Request, session: DB) -> Response:
    user = auth.current_user(request, session)
    if user is not None and not request.query_params.get("error"):
        return RedirectResponse("/applications", status_code=303)
    return _page(
        request,
        "home.html",
        user,
        session,
        personas=_personas(),
        otp=demo_world.sandbox_otp(),
        login_error=request.query_params.get("login_error"),
    )


def _viewer(
    request: Request, session: Session, im: IMClient, settings: ConstructionPermitSettings
) -> UserSession | None:
    """The logged-in user (or None), first linked to the applications that name them (not on a live refresh
    of the page by live.js, which asks no building block anything)."""
    user = auth.current_user(request, session)
    if user is not None and not live.is_live_refresh(request):
        with contextlib.suppress(APIError):  # Identity unreachable: show what is already linked
            service.link_parties(session, im, settings, user)
    return user


@router.get("/applications", response_class=HTMLResponse)
def applications(request: Request, session: DB, im: IM, settings: Settings) -> Response:
    user = _viewer(request, session, im, settings)
    if user is None:
        return _login_first(request)
    return _applications_page(request, session, user, request.query_params.get("parcel"))


def _applications_page(
    request: Request, session: Session, user: UserSession, parcel_id: str | None, **context: Any
) -> HTMLResponse:
    rows = [application_view(session, a, user) for a in service.visible_applications(session, user)]
    queue = set().union(*(QUEUES.get(r, set()) for r in user.roles)) if user.roles else set()
    context = {"typed": {}, "errors": {}, **context}
    return _page(
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
def start(
    request: Request, session: DB, im: IM, settings: Settings, wake: WakePublisher, posted: FormFields
) -> Response:
    user = auth.require_user(request, session)
    form = _fields(posted)
    data = {
        "parcelId": form.get("parcelId"),
        "buildingType": form.get("buildingType"),
        "floorAreaM2": form.get("floorAreaM2"),
        "description": form.get("description"),
        **{role: {"vid": form.get(f"{role}Vid"), "name": form.get(f"{role}Name")} for role in service.PARTY_ROLES},
    }
    try:
        application = service.start_application(
            session,
            im,
            settings,
            user,
            ApplicationStart.model_validate(data),
            current_message_id.get(),
            form.get("formId"),
        )
    except APIError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        return _applications_page(
            request,
            session,
            user,
            str(form.get("parcelId") or ""),
            typed=form,
            errors=form_errors(str(body.get("message") or common_pages.message(exc))),
            panel=common_pages.panel(request, current_message_id.get(), "start an application (refused)"),
        )
    wake()
    return common_pages.back(f"/applications/{application.id}", f"start {application.id}")


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_page(application_id: str, request: Request, session: DB, im: IM, settings: Settings) -> Response:
    user = _viewer(request, session, im, settings)
    if user is None:
        return _login_first(request)
    application = service.get_application(session, application_id)  # a browser gets the 404 as a page
    if not service.may_see(session, user, application):
        return RedirectResponse("/applications?error=this+application+is+not+yours", status_code=303)
    view = application_view(session, application, user)
    agreement = None
    owner_asked = "owner" in view["yourRoles"] and application.consent_status in ("requested", "given", "refused")
    if owner_asked and not live.is_live_refresh(request):
        try:
            agreement = bb.owner_agreement(im, settings)
        except APIError:
            agreement = None
    waiting = application.state == "awaiting_payment" or any(
        h.event_id is None and h.audiences for h in service.history(session, application)
    )
    next_text, next_detail = _next_step(view)
    return _page(
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
        bank=f"{settings.payments_url.rstrip('/')}/bank/?billId={application.bill_id}",
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


def _on_application(
    request: Request,
    session: Session,
    application_id: str,
    what: str,
    step: Callable[[UserSession, Application], None],
    wake: Callable[[], None],
    why: str | None = None,
) -> Response:
    """Runs one step for the logged-in user and goes back to the application page with its exchanges."""
    user = auth.require_user(request, session)
    path = f"/applications/{application_id}"
    try:
        application = service.get_application(session, application_id)
        step(user, application)
    except APIError as exc:
        return common_pages.back(path, what, common_pages.message(exc))
    wake()
    return common_pages.back(path, what, why=why)


@router.post("/applications/{application_id}/documents")
def upload(
    application_id: str, request: Request, session: DB, settings: Settings, wake: WakePublisher, form: FormFields
) -> Response:
    upload = form.get("file")

    def step(user: UserSession, application: Application) -> None:
        if upload is None or isinstance(upload, str):
            raise service.invalid("choose a file")
        content = upload.file.read(settings.max_document_bytes + 1)
        service.add_document(
            session,
            settings,
            user,
            application,
            str(form.get("kind")),
            upload.filename or "",
            upload.content_type or "",
            content,
            current_message_id.get(),
        )

    why = "the municipality keeps the plans itself; no building block holds documents"
    return _on_application(request, session, application_id, "upload a document", step, wake, why)


@router.post("/applications/{application_id}/consent")
def consent(
    application_id: str,
    request: Request,
    session: DB,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
    posted: FormFields,
) -> Response:
    form = _fields(posted)

    def step(user: UserSession, application: Application) -> None:
        service.decide_consent(
            session,
            im,
            settings,
            user,
            application,
            str(form.get("decision")),
            current_message_id.get(),
        )

    return _on_application(request, session, application_id, f"consent: {form.get('decision')}", step, wake)


@router.post("/applications/{application_id}/actions/{action}")
def take_action(
    application_id: str,
    action: str,
    request: Request,
    session: DB,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
    posted: FormFields,
) -> Response:
    form = _fields(posted)

    def step(user: UserSession, application: Application) -> None:
        service.act(
            session,
            im,
            settings,
            user,
            application,
            action,
            form,
            current_message_id.get(),
        )

    why = "the municipality decides this step itself; the people concerned hear of it through the IM's notifications"
    return _on_application(request, session, application_id, action.replace("_", " "), step, wake, why)


@router.post("/applications/{application_id}/request-to-pay")
def request_to_pay(
    application_id: str, request: Request, session: DB, im: IM, settings: Settings, wake: WakePublisher
) -> Response:
    def step(user: UserSession, application: Application) -> None:
        service.request_to_pay(session, im, settings, user, application, current_message_id.get())

    return _on_application(request, session, application_id, "request to pay", step, wake)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, session: DB) -> Response:
    user = auth.current_user(request, session)
    if user is None:
        return _login_first(request)
    return _page(request, "notifications.html", user, session, notifications=_notifications(session, user))


@router.get("/verify", response_class=HTMLResponse)
def verify(request: Request, session: DB, settings: Settings, permit_number: str = "", code: str = "") -> Response:
    number = request.query_params.get("permit", permit_number)[:30]
    code = code[:30]
    result = permit.check(session, settings, number, code) if number and code else None
    return _page(
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
def jwks(settings: Settings) -> dict:
    return permit.public_jwks(settings)


def _admin_page(request: Request, session: Session, user: UserSession, context: dict) -> HTMLResponse:
    return _page(request, "admin.html", user, session, **context)


admin = admin_router(auth.ROLES, auth.SESSION_COOKIE, _admin_page)
