"""The 1.0 voucher API (VoucherAPIS.json) with its status codes 452-464 and `{"message": ...}` errors.

Request bodies are the pydantic models of `schemas_v1.py` (documented in Swagger); a refused body is answered
with the code of its first defect (`error_body`, the router's error shape)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import Header, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.assertion import VerifiedCall
from services.common.clock import iso
from services.common.errors import APIError

from ..authorization import check_source
from ..base import plain
from ..dependencies import IMCaller, Settings
from ..envelopes import BODY_KEY, answers, shaped_router
from ..settings import PaymentsSettings
from . import service
from .models import VoucherGroup, VoucherIssuer
from .schemas_v1 import (
    CODES,
    ActivationAnswer,
    ActivationRequest,
    CancelAnswer,
    CancelRequest,
    PreactivationAnswer,
    PreactivationRequest,
    RedemptionAnswer,
    RedemptionRequest,
    StatusAnswer,
    request_model,
)
from .service import VoucherError


def fail(status: int, message: str) -> APIError:
    return APIError(status, {"message": message})


def refuse(code: str, message: str | None = None) -> APIError:
    """The documented status of `code` (schemas_v1.CODES), with its message unless a more precise one is given."""
    status, default = CODES[code]
    return fail(status, message or default)


def error_body(request: Request, status: int, message: str, details: list) -> Response:
    """The 1.0 voucher API's `{"message": ...}` error; a refused JSON object gets the code of its first defect."""
    model = request_model(request.method, request.url.path)
    if status == 400 and model is not None and details:
        try:
            raw = json.loads(request.scope.get(BODY_KEY) or b"null")
        except ValueError:
            raw = None  # not JSON: the message says where it breaks
        if isinstance(raw, dict):
            status, message = model.refusal(raw, [d["field"] for d in details])
    return JSONResponse({"message": message}, status_code=status)


router = shaped_router(error_body, ["Vouchers (API 1.0)"], prefix="/vouchers")


def is_issuer(session: Session, bb: str) -> bool:
    return session.get(VoucherIssuer, bb) is not None


def check_bb(
    settings: PaymentsSettings, caller: VerifiedCall | None, session: Session, bb: str, unknown: str = "unknown_bb"
) -> None:
    """`bb` must be a voucher issuer (else `unknown`'s code) and the verified caller configured for it (403)."""
    if not is_issuer(session, bb):
        raise refuse(unknown)
    check_source(settings, caller, bb)


def check_funder(session: Session, caller: VerifiedCall | None, group_code: str | None) -> None:
    group = session.get(VoucherGroup, group_code) if group_code else None
    if group is None or caller is None:
        return  # an unknown group is refused (454) with the other checks
    service.check_funder(session, group, caller.client)


def documented(success: type[BaseModel], *codes: str) -> dict[str, Any]:
    """Route options: the success body (documented only, see `envelopes.answers`) and the codes it may answer."""
    options = answers(success)
    options["responses"] |= {CODES[c][0]: {"description": CODES[c][1]} for c in codes}
    options["responses"][400] = {"description": "Invalid request"}
    return options


@router.post(
    "/voucher_preactivation",
    summary="Pre-activate a voucher (1.0)",
    **documented(
        PreactivationAnswer, "invalid_amount", "invalid_currency", "invalid_group", "group_exhausted", "unknown_bb"
    ),
)
def preactivate(
    body: PreactivationRequest,
    settings: Settings,
    caller: IMCaller,
    session: Session = DBSession,
    correlation_id: str | None = Header(default=None, alias="X-CorrelationID", max_length=40),
) -> dict:
    if is_issuer(session, body.Gov_Stack_BB):  # before the replay: it holds a voucher secret
        check_source(settings, caller, body.Gov_Stack_BB)
        check_funder(session, caller, body.voucher_group)
    amount = Decimal(body.voucher_amount)
    first = service.replayed_voucher(session, body.Gov_Stack_BB, correlation_id) if correlation_id else None
    if first is not None:
        if not service.same_issue(first, body.voucher_group, amount, body.voucher_currency):
            raise fail(400, "invalid request: X-CorrelationID was already used for a different voucher")
        return service.first_answer(settings, first)
    check_bb(settings, caller, session, body.Gov_Stack_BB)
    try:
        group = service.group_or_fail(session, body.voucher_group)
        service.check_issue(session, group, amount, body.voucher_currency)
        issued = service.issue(
            session,
            settings,
            api="v1",
            group=group,
            amount=amount,
            currency=body.voucher_currency,
            issuer=body.Gov_Stack_BB,
            request_id=correlation_id or service.random_digits(20),
            narration=(body.voucher_comment or "")[:50] or None,
        )
    except VoucherError as exc:
        raise refuse(exc.code, exc.message) from exc
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
    **documented(ActivationAnswer, "invalid_serial", "unknown_bb"),
)
def activate(body: ActivationRequest, settings: Settings, caller: IMCaller, session: Session = DBSession) -> dict:
    check_bb(settings, caller, session, body.Gov_Stack_BB)
    try:
        service.activate(session, service.by_serial(session, body.voucher_serial_number))
    except VoucherError as exc:
        raise refuse("invalid_serial", exc.message) from exc
    return {"result_status": "Activated"}


# A voucher that cannot be redeemed (used, expired, not activated) is an invalid voucher number to the 1.0 API.
REDEMPTION_CODES = {"invalid_voucher": "invalid_voucher_number", "expired": "invalid_voucher_number"}


def _redeem(settings: PaymentsSettings, caller: VerifiedCall | None, body: RedemptionRequest, session: Session) -> dict:
    check_bb(settings, caller, session, body.Gov_Stack_BB)
    voucher = service.by_secret(session, settings, body.voucher_number)
    merchant = service.find_merchant(session, name=body.merchant_name)
    try:
        if voucher is None:
            raise VoucherError("invalid_voucher_number", "invalid voucher number")
        if voucher.status != "activated":
            raise VoucherError("invalid_voucher_number", f"invalid voucher number ({voucher.status})")
        service.redeem(session, voucher, merchant, override=body.override)
    except VoucherError as exc:
        session.rollback()
        raise refuse(REDEMPTION_CODES.get(exc.code, exc.code), exc.message) from exc
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
    **documented(RedemptionAnswer, "invalid_voucher_number", "funds", "merchant", "unknown_bb"),
)
def redeem(body: RedemptionRequest, settings: Settings, caller: IMCaller, session: Session = DBSession) -> dict:
    return _redeem(settings, caller, body, session)


@router.post("/voucher_redeemption", include_in_schema=False, response_model=None)
def redeem_spelled_as_in_spec(
    body: RedemptionRequest, settings: Settings, caller: IMCaller, session: Session = DBSession
) -> dict:
    """The path exactly as VoucherAPIS.json spells it."""
    return _redeem(settings, caller, body, session)


@router.get(
    "/voucherstatuscheck/{voucherserialnumber}",
    summary="Voucher status (1.0)",
    **documented(StatusAnswer, "unknown_voucher", "used", "expired"),
)
def status(voucherserialnumber: str = PathParam(max_length=25), session: Session = DBSession) -> dict:
    voucher = service.by_serial(session, voucherserialnumber)
    if voucher is None:
        raise refuse("unknown_voucher")
    if voucher.status == "redeemed":
        raise refuse("used")
    if voucher.status in ("preactivated", "activated") and service.is_expired(voucher):
        raise refuse("expired")
    return {"voucher_status": service.V1_STATUS[voucher.status], "voucher_amount": str(plain(voucher.amount))}


@router.patch(
    "/voucherstatuscheck/{voucherserialnumber}",
    summary="Cancel a voucher (1.0)",
    **documented(CancelAnswer, "invalid_voucher", "already_cancelled"),
)
def cancel(
    body: CancelRequest,
    settings: Settings,
    caller: IMCaller,
    voucherserialnumber: str = PathParam(max_length=25),
    session: Session = DBSession,
) -> dict:
    if body.voucherserialnumber != voucherserialnumber:
        raise fail(400, "invalid request: serial number in the path and the body differ")
    check_bb(settings, caller, session, body.Gov_Stack_BB, unknown="invalid_voucher")
    try:
        service.cancel(session, service.by_serial(session, voucherserialnumber))
    except VoucherError as exc:
        code = "already_cancelled" if exc.code == "already_cancelled" else "invalid_voucher"
        raise refuse(code, exc.message) from exc
    return {"message": "Voucher cancelled"}
