"""Online banking of the simulated payer bank (server-rendered; services/common/live.py keeps the balance and
the lists current): log in, look up a bill by its id through the hub, pay it, and accept or refuse requests
to pay."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import demo_world, live
from services.common.im_client import IMClient

from ..base import plain
from ..dependencies import DB, OptionalIM, Settings
from ..p2g import service as p2g
from ..p2g.models import Biller, BillPayment, RequestToPay
from ..p2g.service import Caller, P2GError
from ..seed import load_seed
from ..settings import PaymentsSettings
from . import service as bank
from .models import BankCustomer

router = APIRouter(prefix="/bank", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
SESSION_COOKIE, CSRF_COOKIE = "bank_session", "bank_csrf"
TENANT = "sandbox"
# Shown on the login page: the construction-permit applicants, who pay the municipality's fees.
DEMO_LOGINS = [r for role in ("property_owner", "architect", "contractor") for r in demo_world.with_role(role)[:1]]


def _bank_config(settings: PaymentsSettings) -> dict:
    return load_seed(settings.seed_file)["payer_bank"]


def _customer(request: Request, settings: PaymentsSettings, session: Session) -> BankCustomer | None:
    customer_id = bank.customer_id_from_cookie(settings.keys_dir, request.cookies.get(SESSION_COOKIE))
    return session.get(BankCustomer, customer_id) if customer_id else None


def _render(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or bank.new_csrf_token()
    context = {
        "csrf": csrf,
        "message": request.query_params.get("message"),
        "error": request.query_params.get("error"),
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/bank")
    return response


def _redirect(bill_id: str | None = None, **flash: str) -> RedirectResponse:
    query = {k: v[:300] for k, v in flash.items() if v}
    if bill_id:
        query["billId"] = bill_id
    return RedirectResponse("/bank/" + (f"?{urlencode(query)}" if query else ""), status_code=303)


async def _checked_form(request: Request) -> dict | None:
    """The posted form, or None when its CSRF token does not match the cookie."""
    form = dict(await request.form())
    return form if bank.csrf_ok(request.cookies.get(CSRF_COOKIE), form.get("csrf")) else None


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    settings: Settings,
    db: DB,
    im: OptionalIM,
    billId: str = "",  # the link the biller gives out
) -> Response:
    bill_id = billId.strip().upper()
    with db.session() as session:
        customer = _customer(request, settings, session)
        if customer is None:
            return _render(
                request, "login.html", {"bill_id": bill_id, "pin": _bank_config(settings)["pin"], "demo": DEMO_LOGINS}
            )
        context = _account_context(session, customer)
        context.update(bill_id=bill_id, bill=None, lookup_error=None)
        if bill_id and not live.is_live_refresh(request):  # a live refresh asks the biller nothing
            context.update(_look_up(im, session, customer, bill_id))
        return _render(request, "home.html", context)


def _account_context(session: Session, customer: BankCustomer) -> dict:
    account = bank.account_of(session, customer)
    payments = session.scalars(
        select(BillPayment).where(BillPayment.debit_account_id == account.id).order_by(BillPayment.id.desc()).limit(10)
    ).all()
    inbox = session.scalars(
        select(RequestToPay).where(RequestToPay.customer_id == customer.id).order_by(RequestToPay.id.desc()).limit(10)
    ).all()
    names = {b.id: b.name for b in session.scalars(select(Biller))}
    return {
        "customer": customer,
        "balance": plain(account.balance),
        "currency": account.currency,
        "payments": payments,
        "inbox": inbox,
        "billers": names,
        "plain": plain,
    }


def _look_up(im: IMClient | None, session: Session, customer: BankCustomer, bill_id: str) -> dict:
    if not bank.looks_like_bill_id(bill_id):
        return {"lookup_error": "A bill id has letters, digits and dashes only (at most 20)."}
    caller = Caller(bank.new_reference("INQ"), TENANT, bank.account_of(session, customer).owner)
    try:
        inquiry = p2g.inquire(session, im, bill_id, caller.correlation_id, caller)
    except P2GError as exc:
        return {"lookup_error": f"Bill {bill_id} cannot be looked up: {exc.reason}."}
    if inquiry.code != "00":
        return {"lookup_error": f"Bill {bill_id} was not found by the biller."}
    details = p2g.inquiry_response(inquiry)["billDetails"]
    try:
        amount = plain(p2g.amount_due(details))
    except P2GError as exc:
        return {"lookup_error": exc.reason}
    biller = session.get(Biller, inquiry.biller_id)
    return {
        "bill": {
            "id": bill_id,
            "biller": biller.name,
            "status": details.get("billStatus"),
            "due": str(details.get("dueDate", ""))[:10],
            "amount": amount,
            "inquiry": inquiry.request_id,
            "payment_request": bank.new_reference("PAY"),
        }
    }


@router.post("/login")
async def login(request: Request, settings: Settings, db: DB) -> Response:
    form = await _checked_form(request)
    if form is None:
        return _redirect(error="The form expired: please try again.")
    with db.session() as session:
        customer = bank.find_by_login(session, form.get("login", ""))
    bill_id = (form.get("billId") or "").strip()
    if customer is None or form.get("pin") != str(_bank_config(settings)["pin"]):
        return _redirect(bill_id, error="Unknown account or wrong PIN.")
    response = _redirect(bill_id)
    cookie = bank.session_cookie(settings.keys_dir, customer.id, settings.bank_session_hours)
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", path="/bank")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = _redirect(message="Logged out.")
    if await _checked_form(request) is not None:
        response.delete_cookie(SESSION_COOKIE, path="/bank")
    return response


@router.post("/pay")
async def pay(request: Request, settings: Settings, db: DB) -> Response:
    form = await _checked_form(request)
    if form is None:
        return _redirect(error="The form expired: please look the bill up again.")
    bill_id = (form.get("billId") or "").strip()

    def work() -> str:
        with db.session() as session:
            customer = _customer(request, settings, session)
            if customer is None:
                raise P2GError("please log in again")
            account = bank.account_of(session, customer)
            payment = p2g.pay_bill(
                session,
                settings,
                caller=Caller(form.get("requestId", ""), TENANT, account.owner),
                request_id=form.get("requestId", "")[:20],
                inquiry_request_id=form.get("inquiryRequestId", "")[:20],
                bill_id=bill_id,
                payment_reference_id=bank.new_reference("PRF", 15),
                debit=account,
            )
            return (
                f"Paid {plain(payment.amount)} {payment.currency} for bill {payment.bill_id} "
                f"(reference {payment.payment_reference_id})."
            )

    try:
        return _redirect(message=await run_in_threadpool(work))
    except P2GError as exc:
        return _redirect(error=f"Bill {bill_id} was not paid: {exc.reason}.")


@router.post("/rtp/{rtp_pk}")
async def answer_rtp(request: Request, settings: Settings, db: DB, im: OptionalIM, rtp_pk: int) -> Response:
    form = await _checked_form(request)
    if form is None or form.get("decision") not in ("accept", "refuse"):
        return _redirect(error="The form expired: please try again.")
    accept = form["decision"] == "accept"

    def work() -> str:
        with db.session() as session:
            customer = _customer(request, settings, session)
            rtp = session.get(RequestToPay, rtp_pk)
            if customer is None or rtp is None or rtp.customer_id != customer.id:
                raise P2GError("no such request to pay")
            p2g.answer_rtp(
                session,
                im,
                settings,
                rtp,
                accept=accept,
                debit=bank.account_of(session, customer),
            )
            return f"Request to pay for bill {rtp.bill_id} {'accepted and paid' if accept else 'refused'}."

    try:
        return _redirect(message=await run_in_threadpool(work))
    except P2GError as exc:
        return _redirect(error=f"Request to pay not accepted: {exc.reason}.")
