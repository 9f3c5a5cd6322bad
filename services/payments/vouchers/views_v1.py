"""The 1.0 voucher API (VoucherAPIS.json) with its status codes 452-464 and `{"message": ...}` errors."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.errors import APIError

from ..authorization import NotAllowed, check_source
from ..base import iso, plain
from ..envelopes import valid_callback_url
from ..seed import load_seed
from . import service
from .models import VoucherGroup
from .service import VoucherError

router = APIRouter(
    prefix="/vouchers",
    tags=["Vouchers (API 1.0)"],
    dependencies=[Depends(valid_callback_url)],
)

AMOUNT = re.compile(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
STATUS_CODES = {
    "invalid_amount": 452,
    "invalid_currency": 453,
    "invalid_group": 454,
    "group_exhausted": 455,
    "unknown_serial": 456,
    "used": 458,
    "expired": 459,
    "unknown_bb": 460,
    "invalid_voucher_number": 461,
    "funds": 462,
    "merchant": 463,
    "invalid_voucher": 463,
    "already_cancelled": 464,
}


class _Loose(BaseModel):
    """Fields arrive loosely typed so each defect maps to its documented status code, not a generic 400."""

    model_config = ConfigDict(extra="ignore")


class PreactivationRequest(_Loose):
    voucher_amount: str | int | float | None = None
    voucher_currency: str | None = None
    voucher_group: str | None = None
    Gov_Stack_BB: str | None = None
    voucher_comment: str | None = None


class ActivationRequest(_Loose):
    voucher_serial_number: int | str | None = None
    Gov_Stack_BB: str | None = None


class RedemptionRequest(_Loose):
    voucher_number: int | str | None = None
    Gov_Stack_BB: str | None = None
    merchant_name: str | None = None
    merchant_bank_details: str | None = None
    merchant_voucher_group: str | None = None
    override: bool | None = None


class CancelRequest(_Loose):
    voucherserialnumber: str | int | None = None
    Gov_Stack_BB: str | None = None


def fail(status: int, message: str) -> APIError:
    return APIError(status, {"message": message})


def fail_with(exc: VoucherError, code: str | None = None) -> APIError:
    return fail(STATUS_CODES.get(code or exc.code, 400), exc.message)


def require(**fields: object) -> None:
    missing = [name for name, value in fields.items() if value in (None, "")]
    if missing:
        raise fail(400, "invalid request: missing " + ", ".join(missing))


@cache
def _issuers(seed_file: Path) -> frozenset[str]:
    return frozenset(load_seed(seed_file).get("voucher_issuers", []))


def check_bb(request: Request, bb: str) -> None:
    if bb not in _issuers(request.app.state.settings.seed_file):
        raise fail(460, "GovStack building block does not exist")
    check_caller_is(request, bb)


def check_caller_is(request: Request, bb: str) -> None:
    """The verified caller must be configured for the Gov_Stack_BB it names (403 otherwise)."""
    try:
        check_source(request.app.state.settings, im_caller(request), bb)
    except NotAllowed as exc:
        raise fail(403, str(exc)) from exc


def check_funder(request: Request, session: Session, group_code: str | None) -> None:
    caller = im_caller(request)
    group = session.get(VoucherGroup, group_code) if group_code else None
    if group is None or caller is None:
        return  # an unknown group is refused (454) with the other checks
    try:
        service.check_funder(session, group, caller.client)
    except NotAllowed as exc:
        raise fail(403, str(exc)) from exc


@router.post(
    "/voucher_preactivation",
    summary="Pre-activate a voucher (1.0)",
    responses={
        452: {"description": "Invalid amount"},
        453: {"description": "Invalid currency"},
        454: {"description": "Invalid voucher group"},
        455: {"description": "Voucher group exhausted"},
        460: {"description": "GovStack building block does not exist"},
    },
)
def preactivate(
    request: Request,
    body: PreactivationRequest = Body(...),
    session: Session = DBSession,
    correlation_id: str | None = Header(default=None, alias="X-CorrelationID", max_length=40),
) -> dict:
    require(
        voucher_amount=body.voucher_amount,
        voucher_currency=body.voucher_currency,
        voucher_group=body.voucher_group,
        Gov_Stack_BB=body.Gov_Stack_BB,
    )
    settings = request.app.state.settings
    if body.Gov_Stack_BB in _issuers(settings.seed_file):  # before the replay: it holds a voucher secret
        check_caller_is(request, body.Gov_Stack_BB)
        check_funder(request, session, body.voucher_group)
    if correlation_id:
        first = service.replayed_answer(session, settings, body.Gov_Stack_BB, correlation_id)
        if first is not None:
            return first
    if not AMOUNT.match(str(body.voucher_amount)):
        raise fail(452, "invalid amount")
    if not CURRENCY.match(body.voucher_currency or ""):
        raise fail(453, "invalid currency")
    check_bb(request, body.Gov_Stack_BB)
    try:
        group = service.group_or_fail(session, body.voucher_group)
        amount = Decimal(str(body.voucher_amount))
        service.check_issue(session, group, amount, body.voucher_currency)
        issued = service.issue(
            session,
            settings,
            api="v1",
            group=group,
            amount=amount,
            currency=body.voucher_currency,
            issuer=body.Gov_Stack_BB,
            request_id=correlation_id or service._digits(20),
            narration=body.voucher_comment,
        )
    except VoucherError as exc:
        raise fail_with(exc) from exc
    answer = {
        "voucher_number": issued.secret,
        "voucher_serial_number": issued.voucher.serial_number,
        "expiry_date_time": iso(issued.voucher.expires_at),
    }
    service.remember_answer(settings, issued.voucher, answer)
    return answer


@router.patch(
    "/voucher_activation",
    summary="Activate a voucher (1.0)",
    responses={
        456: {"description": "Invalid voucher serial number"},
        460: {"description": "GovStack BB does not exist"},
    },
)
def activate(request: Request, body: ActivationRequest = Body(...), session: Session = DBSession) -> dict:
    require(voucher_serial_number=body.voucher_serial_number, Gov_Stack_BB=body.Gov_Stack_BB)
    check_bb(request, body.Gov_Stack_BB)
    try:
        service.activate(session, service.by_serial(session, str(body.voucher_serial_number)))
    except VoucherError as exc:
        raise fail_with(exc, "unknown_serial") from exc
    return {"result_status": "Activated"}


def _redeem(request: Request, body: RedemptionRequest, session: Session) -> dict:
    require(
        voucher_number=body.voucher_number,
        Gov_Stack_BB=body.Gov_Stack_BB,
        merchant_name=body.merchant_name,
        merchant_bank_details=body.merchant_bank_details,
        merchant_voucher_group=body.merchant_voucher_group,
        override=body.override,
    )
    check_bb(request, body.Gov_Stack_BB)
    settings = request.app.state.settings
    voucher = service.by_secret(session, settings, str(body.voucher_number))
    merchant = service.find_merchant(session, name=body.merchant_name)
    try:
        if voucher is None:
            raise VoucherError("invalid_voucher_number", "invalid voucher number")
        if voucher.status != "activated":
            raise VoucherError("invalid_voucher_number", f"invalid voucher number ({voucher.status})")
        service.redeem(session, voucher, merchant, override=bool(body.override))
    except VoucherError as exc:
        session.rollback()
        code = {"invalid_voucher": "invalid_voucher_number", "expired": "invalid_voucher_number"}.get(exc.code)
        raise fail_with(exc, code) from exc
    return {
        "result_status": "Redeemed",
        "voucher_serial_number": voucher.serial_number,
        "voucher_amount": str(plain(voucher.amount)),
        "currency": voucher.currency,
        "transaction_id": voucher.entry_id,
    }


@router.post(
    "/voucher_redemption",
    summary="Redeem a voucher at a merchant (1.0)",
    responses={
        461: {"description": "Invalid voucher number"},
        462: {"description": "Insufficient funds in funding a/c"},
        463: {"description": "Cannot credit merchant"},
        460: {"description": "GovStack BB does not exist"},
    },
)
def redeem(request: Request, body: RedemptionRequest = Body(...), session: Session = DBSession) -> dict:
    return _redeem(request, body, session)


@router.post("/voucher_redeemption", include_in_schema=False)
def redeem_spelled_as_in_spec(
    request: Request,
    body: RedemptionRequest = Body(...),
    session: Session = DBSession,
) -> dict:
    """The path exactly as VoucherAPIS.json spells it."""
    return _redeem(request, body, session)


@router.get(
    "/voucherstatuscheck/{voucherserialnumber}",
    summary="Voucher status (1.0)",
    responses={
        456: {"description": "Invalid voucher number"},
        458: {"description": "Voucher number already used"},
        459: {"description": "Voucher has expired"},
    },
)
def status(voucherserialnumber: str = PathParam(max_length=25), session: Session = DBSession) -> dict:
    if not voucherserialnumber.isdigit():
        raise fail(400, "invalid request: the serial number is numeric")
    voucher = service.by_serial(session, voucherserialnumber)
    if voucher is None:
        raise fail(456, "invalid voucher number")
    if voucher.status == "redeemed":
        raise fail(458, "voucher number already used")
    if voucher.status in ("preactivated", "activated") and service.is_expired(voucher):
        raise fail(459, "voucher has expired")
    return {"voucher_status": service.V1_STATUS[voucher.status], "voucher_amount": str(plain(voucher.amount))}


@router.patch(
    "/voucherstatuscheck/{voucherserialnumber}",
    summary="Cancel a voucher (1.0)",
    responses={463: {"description": "Invalid voucher"}, 464: {"description": "Voucher is already cancelled"}},
)
def cancel(
    request: Request,
    voucherserialnumber: str = PathParam(max_length=25),
    body: CancelRequest = Body(...),
    session: Session = DBSession,
) -> dict:
    require(Gov_Stack_BB=body.Gov_Stack_BB)
    if body.voucherserialnumber not in (None, "") and str(body.voucherserialnumber) != voucherserialnumber:
        raise fail(400, "invalid request: serial number in the path and the body differ")
    check_bb(request, body.Gov_Stack_BB)
    try:
        service.cancel(session, service.by_serial(session, voucherserialnumber))
    except VoucherError as exc:
        raise fail_with(exc, "already_cancelled" if exc.code == "already_cancelled" else "invalid_voucher") from exc
    return {"message": "Voucher cancelled"}
