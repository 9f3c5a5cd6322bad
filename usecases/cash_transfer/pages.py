"""Server-rendered pages (Jinja2): one per persona step; each action shows its IM exchanges."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from services.common import demo_world, live
from services.common.errors import APIError
from services.common.im_client import IMClient, current_message_id
from usecases.common import pages as common_pages
from usecases.common.admin_views import admin_router
from usecases.common.security import csrf_token_for, form_guard

from . import auth, bb, service
from .dependencies import DB, IM, FormFields, Settings
from .models import CallbackReceived, Candidate, Enrollment, Package, PaymentOrder, UserSession
from .settings import CashTransferSettings

router = APIRouter(include_in_schema=False, dependencies=[Depends(form_guard(auth.SESSION_COOKIE))])
templates = common_pages.templates_for(Path(__file__).parent)
HOME = {
    "enrollment_officer": "/officer",
    "payment_officer": "/payments",
    "administrator": "/admin",
    "beneficiary": "/me",
}


def _page(request: Request, name: str, user: UserSession | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {
            "refresh": False,
            "user": user,
            "panel": common_pages.panel(request),
            "error": request.query_params.get("error"),
            "csrf_token": csrf_token_for(request, auth.SESSION_COOKIE),
            "home": HOME,
            **context,
        },
    )


_back, _message = common_pages.back, common_pages.message
JOURNEY = ["Consent requested", "Consent given", "Enrolled", "Account registered", "Paid"]
BENEFICIARY_NEXT = [
    "Nothing to do yet: the enrollment officer will ask for your consent.",
    "Read what the programme will do with your data, then agree or refuse below.",
    "Nothing to do: the enrollment officer can now enroll you.",
    "Nothing to do: the Payments building block is registering your payment account.",
    "Nothing to do: the payment officer will order your payment.",
    "You have been paid. Nothing else to do.",
]


def stage(candidate: Candidate, enrollment: Enrollment | None, paid: bool = False) -> int:
    """How far a candidate is on JOURNEY: the index of the step that comes next (len(JOURNEY) when paid)."""
    if candidate.consent_status != "given":
        return 0 if candidate.consent_status == "none" else 1
    if enrollment is None:
        return 2
    if enrollment.onboarding_status != "onboarded":
        return 3
    return 5 if paid else 4


def _personas(session: Session) -> list[dict]:
    """Who to log in as in the demo: the officers, the administrator and the programme's candidates."""
    staff = [
        (label, demo_world.with_role(role)[0])
        for label, role in (
            ("enrollment officer", "enrollment_officer"),
            ("payment officer", "payment_officer"),
            ("administrator (role assignments)", "administrator"),
        )
    ]
    names = set(session.scalars(select(Candidate.name)))
    candidates = [("candidate", r) for r in demo_world.residents() if r["name"] in names][:6]
    return [{"label": label, "name": r["name"], "vid": r["vid"]} for label, r in staff + candidates]


def _fields(form: FormData) -> dict:
    return {k: form.getlist(k) if k == "beneficiaryIds" else form.get(k) for k in form if k != "csrf_token"}


def _user_or_login(
    request: Request, session: Session, role: str
) -> tuple[UserSession, None] | tuple[None, RedirectResponse]:
    user = auth.current_user(request, session)
    if user is None:
        return None, RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if role not in user.roles:
        needed = f"this page needs the {role.replace('_', ' ')} role"
        return None, RedirectResponse("/?error=" + quote(needed), status_code=303)
    return user, None


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DB) -> Response:
    user = auth.current_user(request, session)
    if user is not None and user.roles and not request.query_params.get("error"):
        return RedirectResponse(HOME[user.roles[0]], status_code=303)
    return _page(
        request,
        "home.html",
        user,
        login_error=request.query_params.get("login_error"),
        personas=_personas(session),
        otp=demo_world.sandbox_otp(),
    )


@router.get("/officer", response_class=HTMLResponse)
def officer(request: Request, session: DB, im: IM, settings: Settings) -> Response:
    user, away = _user_or_login(request, session, "enrollment_officer")
    if away:
        return away
    rows = list(session.scalars(select(Candidate).order_by(Candidate.name)))
    checked = _refresh_consent(request, session, im, settings, rows)
    enrolled = {e.candidate_id: e for e in session.scalars(select(Enrollment))}
    packages = list(session.scalars(select(Package).order_by(Package.id)))
    waiting = any(e.onboarding_status == "pending" for e in enrolled.values())
    stages = [stage(c, enrolled.get(c.id)) for c in rows]
    return _page(
        request,
        "officer.html",
        user,
        candidates=rows,
        enrolled=enrolled,
        packages=packages,
        checked=checked,
        money=service.money,
        refresh=waiting,
        **_officer_journey(stages),
    )


def _refresh_consent(
    request: Request, session: Session, im: IMClient, settings: CashTransferSettings, candidates: list[Candidate]
) -> bool:
    """Consent checked live at the Consent BB (False when it cannot answer); a live refresh of the page
    (live.js) asks nothing and shows what Consent's webhook last told this service."""
    if live.is_live_refresh(request):
        return True
    try:
        service.refresh_consent(session, im, settings, candidates)
    except APIError:
        return False
    return True


def _officer_journey(stages: list[int]) -> dict:
    to_ask, asked, to_enroll = stages.count(0), stages.count(1), stages.count(2)
    if to_enroll:
        step, text = 2, f"Enroll the {_people(to_enroll)} who gave consent."
    elif to_ask:
        step, text = 0, f"Request consent from a candidate ({_people(to_ask)} not asked yet)."
    elif asked:
        step, text = 1, f"Wait for the {_people(asked)} you asked to answer: they decide on their own page."
    else:
        step, text = 3, "Everyone is enrolled: the payment officer takes it from here."
    detail = "Enroll appears only once a candidate has given consent."
    return {"steps": common_pages.tracker(JOURNEY, step), "next_text": text, "next_detail": detail}


def _people(count: int) -> str:
    return f"{count} candidate{'s' if count != 1 else ''}"


@router.post("/officer/consent")
def officer_consent(request: Request, session: DB, posted: FormFields, im: IM, settings: Settings) -> Response:
    user = auth.require(request, session, "enrollment_officer")
    form = _fields(posted)
    try:
        candidate = service.get_candidate(session, str(form.get("candidateId")))
        service.request_consent(session, im, settings, candidate)
    except APIError as exc:
        return _back("/officer", "request consent", _message(exc))
    service.record_action(session, current_message_id.get(), "request consent", user)
    return _back("/officer", f"request consent from {candidate.name}")


@router.post("/officer/enroll")
def officer_enroll(request: Request, session: DB, posted: FormFields, im: IM, settings: Settings) -> Response:
    user = auth.require(request, session, "enrollment_officer")
    form = _fields(posted)
    try:
        candidate = service.get_candidate(session, str(form.get("candidateId")))
        service.enroll(session, im, settings, candidate, str(form.get("packageId")), user)
    except APIError as exc:
        return _back("/officer", "enroll", _message(exc))
    service.record_action(session, current_message_id.get(), "enroll", user)
    return _back("/officer", f"enroll {candidate.name}")


@router.get("/payments", response_class=HTMLResponse)
def payments(request: Request, session: DB, im: IM, settings: Settings) -> Response:
    user, away = _user_or_login(request, session, "payment_officer")
    if away:
        return away
    rows = session.execute(
        select(Enrollment, Candidate, Package).join(Candidate).join(Package).order_by(Enrollment.created_at)
    ).all()
    _refresh_consent(request, session, im, settings, [c for _, c, _ in rows])
    orders = session.execute(
        select(PaymentOrder, Candidate.name)
        .join(Enrollment, PaymentOrder.enrollment_id == Enrollment.id)
        .join(Candidate, Enrollment.candidate_id == Candidate.id)
        .order_by(PaymentOrder.created_at.desc())
        .limit(100)
    ).all()
    waiting = any(e.onboarding_status == "pending" for e, _, _ in rows) or any(
        o.status in ("ordered", "accepted") for o, _ in orders
    )
    received = session.scalars(select(CallbackReceived).order_by(CallbackReceived.id.desc()).limit(10)).all()
    payable = {e.id for e, c, _ in rows if stage(c, e) == 4}
    review = [(e, c, p) for e, c, p in rows if e.id in payable and e.id in request.query_params.getlist("review")]
    return _page(
        request,
        "payments.html",
        user,
        beneficiaries=rows,
        payable=payable,
        review=review,
        review_total=_total(review),
        orders=orders,
        money=service.money,
        refresh=waiting,
        callbacks=received,
        **_payer_journey(rows, payable, bool(review)),
    )


def _total(review: list[tuple[Enrollment, Candidate, Package]]) -> str:
    """ "150.00 USD", summed per currency, for the confirmation before paying."""
    sums: dict[str, int] = {}
    for _, _, package in review:
        sums[package.currency] = sums.get(package.currency, 0) + package.amount_minor
    return " + ".join(f"{service.money(amount)} {currency}" for currency, amount in sums.items())


def _payer_journey(rows: list, payable: set[str], reviewing: bool) -> dict:
    pending = sum(1 for e, c, _ in rows if stage(c, e) == 3)
    if reviewing:
        step, text = 4, "Check the amount and confirm the payment."
    elif payable:
        step, text = 4, f"Select the {_people(len(payable))} ready to be paid and review the payment."
    elif pending:
        step, text = 3, f"Wait: the Payments building block is registering {_people(pending)}' accounts."
    else:
        step, text = 2, "Nobody is ready to be paid: the enrollment officer enrolls candidates first."
    detail = "Only beneficiaries with consent given and a registered account can be paid."
    return {"steps": common_pages.tracker(JOURNEY, step), "next_text": text, "next_detail": detail}


@router.post("/payments/order")
def payments_order(request: Request, session: DB, posted: FormFields, im: IM, settings: Settings) -> Response:
    user = auth.require(request, session, "payment_officer")
    form = _fields(posted)
    try:
        orders = service.order_payment(
            session,
            im,
            settings,
            list(form.get("beneficiaryIds") or []),
            user,
            None,
        )
    except APIError as exc:
        return _back("/payments", "order payment", _message(exc))
    service.record_action(session, current_message_id.get(), "order payment", user)
    return _back("/payments", f"order payment for {len(orders)} beneficiar{'y' if len(orders) == 1 else 'ies'}")


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, session: DB, im: IM, settings: Settings) -> Response:
    user, away = _user_or_login(request, session, "beneficiary")
    if away:
        return away
    candidate = service.get_candidate(session, user.candidate_id)
    agreement = None
    if _refresh_consent(request, session, im, settings, [candidate]) and not live.is_live_refresh(request):
        with contextlib.suppress(APIError):
            answer = bb.read_agreement(im, settings)
            agreement = answer.get("dataAgreement", answer)
    enrollment = service.enrollment_of(session, candidate.id)
    package = session.get(Package, enrollment.package_id) if enrollment else None
    orders = (
        []
        if enrollment is None
        else session.scalars(
            select(PaymentOrder)
            .where(PaymentOrder.enrollment_id == enrollment.id)
            .order_by(PaymentOrder.created_at.desc())
        ).all()
    )
    reached = stage(candidate, enrollment, any(o.status == "paid" for o in orders))
    return _page(
        request,
        "me.html",
        user,
        steps=common_pages.tracker(JOURNEY, reached),
        next_text=BENEFICIARY_NEXT[reached],
        candidate=candidate,
        agreement=agreement,
        enrollment=enrollment,
        package=package,
        orders=orders,
        money=service.money,
    )


@router.post("/me/consent")
def me_consent(request: Request, session: DB, posted: FormFields, im: IM, settings: Settings) -> Response:
    user = auth.require(request, session, "beneficiary")
    form = _fields(posted)
    decision = str(form.get("decision"))
    try:
        candidate = service.get_candidate(session, user.candidate_id)
        service.decide_consent(session, im, settings, candidate, user, decision)
    except APIError as exc:
        return _back("/me", "consent", _message(exc))
    service.record_action(session, current_message_id.get(), f"consent: {decision}", user)
    return _back("/me", f"consent: {decision}")


def _admin_page(request: Request, session: Session, user: UserSession, context: dict) -> HTMLResponse:
    return _page(request, "admin.html", user, **context)


admin = admin_router(auth.ROLES, auth.SESSION_COOKIE, _admin_page)
