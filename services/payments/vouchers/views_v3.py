"""The v3 voucher API (`api/Voucher API YAMLs`): POST/PUT `/vouchers` dispatched on `command`, GET status;
plus read-only listings of voucher groups and merchants (sandbox extension)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from fastapi import Body, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.assertion import VerifiedCall
from services.common.clock import iso, utcnow
from services.common.errors import APIError

from .. import envelopes
from ..authorization import check_source
from ..base import plain
from ..dependencies import IMCaller, Settings
from ..envelopes import SUCCESS, answers, fail_v1, fail_v3, shaped_router, v1_body, v3_body
from ..outbox.service import enqueue
from ..schemas import V1Answer, V3Answer
from ..settings import PaymentsSettings
from . import service
from .models import Merchant, Voucher, VoucherGroup
from .service import VoucherError

router = shaped_router(envelopes.v3_voucher_error, ["Vouchers (v3)"])
sandbox_router = shaped_router(envelopes.v3_error, ["Vouchers (sandbox)"])

Amount = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000"), decimal_places=4)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreationInstruction(_Body):
    instructionID: str = Field(min_length=1, max_length=16)
    groupCode: str = Field(min_length=1, max_length=3)
    currency: str = Field(pattern="^[A-Z]{3}$")
    amount: Amount
    payeeFunctionalID: str | None = Field(default=None, max_length=20)
    narration: str | None = Field(default=None, max_length=50)


class CreationRequest(_Body):
    requestID: str = Field(min_length=1, max_length=12)
    batchID: str | None = Field(default=None, max_length=12)
    voucherInstructions: list[CreationInstruction] = Field(min_length=1, max_length=10000)


class SerialInstruction(_Body):
    serialNumber: str = Field(min_length=1, max_length=20)


class ActivateRequest(_Body):
    RequestID: str = Field(min_length=1, max_length=12)
    BatchID: str | None = Field(default=None, max_length=12)
    VoucherInstructions: list[SerialInstruction] = Field(min_length=1)


class CancelRequest(_Body):
    requestID: str = Field(min_length=1, max_length=12)
    batchID: str | None = Field(default=None, max_length=12)
    voucherInstructions: list[SerialInstruction] = Field(min_length=1)


class RedeemRequest(_Body):
    requestID: str = Field(min_length=1, max_length=12)
    voucherSerialNumber: str = Field(min_length=1, max_length=20)
    agentID: str = Field(min_length=1, max_length=10)
    voucherSecretNumber: str = Field(min_length=1, max_length=6)


class RedemptionOutcome(BaseModel):
    """VoucherRedemption.yml's answer; a refused redemption is `status` 0 with a `reason`."""

    serialNumber: str
    timestamp: str
    status: int
    message: str
    value: float
    transactionId: str | None = None
    reason: str | None = None


class VoucherStatus(BaseModel):
    status: int = Field(description="1 pre-activated, 2 activated, 3 cancelled, 4 redeemed, 5 blocked, 6 expired")
    serialNumber: str
    value: float


class VoucherGroupView(BaseModel):
    groupCode: str
    name: str
    currency: str
    programme: str
    maxVouchers: int | None = None
    maxAmount: float | None = None


class MerchantView(BaseModel):
    agentID: str
    name: str
    bankDetails: str | None = None
    voucherGroups: list[str]
    active: bool


def _parse(model: type[BaseModel], body: object, fail: Callable[[int, str, str], APIError]) -> BaseModel:
    from pydantic import ValidationError

    from services.common.errors import summarize

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        request_id = (body.get("requestID") or body.get("RequestID") or "") if isinstance(body, dict) else ""
        raise fail(400, summarize(details), str(request_id)[:40]) from exc


@router.post(
    "/vouchers",
    summary="Create (pre-activate), redeem or cancel vouchers (v3)",
    **answers(V1Answer | V3Answer | RedemptionOutcome),
)
def post_vouchers(
    settings: Settings,
    caller: IMCaller,
    body: dict = Body(...),
    session: Session = DBSession,
    command: str | None = Query(default=None, max_length=20),
    callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
    program_id: str | None = Header(default=None, alias="X-Program-Id", max_length=20),
    institution: str | None = Header(default=None, alias="X-Registering-Institution-Id", max_length=20),
) -> dict:
    # VoucherRedemption.yml documents its command as `cancel` too; the body tells redemption from cancellation.
    if command == "redeem" or (command == "cancel" and "voucherSecretNumber" in body):
        return redeem(settings, _parse(RedeemRequest, body, fail_v1), session)
    if command == "cancel":
        return cancel(settings, _parse(CancelRequest, body, fail_v3), session, callback_url)
    if command not in (None, "", "create"):
        raise fail_v1(400, "command must be redeem, cancel or absent (creation)", str(body.get("requestID", "")))
    creation = _parse(CreationRequest, body, fail_v1)
    return create(settings, caller, creation, session, callback_url, institution, program_id)


def create(
    settings: PaymentsSettings,
    caller: VerifiedCall | None,
    body: CreationRequest,
    session: Session,
    callback_url: str | None,
    institution: str | None,
    program_id: str | None,
) -> dict:
    if not callback_url:
        raise fail_v1(400, "header X-Callback-URL is required", body.requestID)
    issuer = institution or "v3"
    _check_funders(settings, caller, session, body, institution)
    first = service.replayed_answer(session, settings, issuer, body.requestID)
    if first is not None:
        return first
    if len({i.instructionID for i in body.voucherInstructions}) < len(body.voucherInstructions):
        raise fail_v1(400, "duplicate instructionID in the request", body.requestID)
    for i in body.voucherInstructions:
        group = service.group_or_fail(session, i.groupCode)
        if program_id and group.programme_code != program_id:
            raise VoucherError("invalid_group", f"voucher group {group.code} is not funded by {program_id}")
        planned = sum(1 for j in body.voucherInstructions if j.groupCode == i.groupCode)
        service.check_issue(session, group, i.amount, i.currency, planned)
    issued = [
        service.issue(
            session,
            settings,
            api="v3",
            group=session.get(VoucherGroup, i.groupCode),
            amount=i.amount,
            currency=i.currency,
            issuer=issuer,
            request_id=body.requestID,
            instruction_id=i.instructionID,
            payee=i.payeeFunctionalID,
            narration=i.narration,
        )
        for i in body.voucherInstructions
    ]
    # VoucherCreationResponse.yml: the voucher details go to the source BB's callback (the secret only there).
    details = {
        "requestID": service.new_id(),
        "batchID": body.batchID,
        "voucherInstructions": [
            {
                "instructionID": v.voucher.instruction_id,
                "serialNumber": v.voucher.serial_number,
                "voucherNumber": v.secret,
                "currency": v.voucher.currency,
                "amount": plain(v.voucher.amount),
                "narration": v.voucher.narration,
            }
            for v in issued
        ],
    }
    enqueue(session, settings, "vouchers.created", callback_url, details)
    answer = v1_body(SUCCESS, f"{len(issued)} vouchers created; details sent to the callback URL", body.requestID)
    service.remember_answer(settings, issued[0].voucher, answer)
    return answer


def _check_funders(
    settings: PaymentsSettings,
    caller: VerifiedCall | None,
    session: Session,
    body: CreationRequest,
    institution: str | None,
) -> None:
    """Before anything, even a replayed answer (it holds voucher secrets): the caller is the institution it
    names and owns the programme of every group it issues from."""
    check_source(settings, caller, institution)
    if caller is not None:
        for code in {i.groupCode for i in body.voucherInstructions}:
            service.check_funder(session, service.group_or_fail(session, code), caller.client)


def _each(
    session: Session, serials: list[SerialInstruction], action: Callable[[Session, Voucher | None], Voucher]
) -> list[dict]:
    failed = []
    for s in serials:
        try:
            with session.begin_nested():
                action(session, service.by_serial(session, s.serialNumber))
        except VoucherError as exc:
            failed.append({"serialNumber": s.serialNumber, "failureReason": exc.message[:100]})
    return failed


def _outcome(request_id: str, failed: list[dict]) -> dict:
    return {
        "requestID": service.new_id(),
        "registerRequestID": request_id,
        "numberFailedCases": len(failed),
        "failedCases": failed,
    }


@router.put("/vouchers", summary="Activate vouchers (v3, command=activate)", **answers(V1Answer))
def put_vouchers(
    settings: Settings,
    body: dict = Body(...),
    session: Session = DBSession,
    command: str = Query(max_length=20),
    callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
) -> dict:
    parsed = _parse(ActivateRequest, body, fail_v1)
    if command != "activate":
        raise fail_v1(400, "command must be activate", parsed.RequestID)
    failed = _each(session, parsed.VoucherInstructions, service.activate)
    if callback_url:
        enqueue(session, settings, "vouchers.activated", callback_url, _outcome(parsed.RequestID, failed))
    total = len(parsed.VoucherInstructions)
    code = SUCCESS if not failed else "01"
    return v1_body(code, f"{total - len(failed)} of {total} vouchers activated", parsed.RequestID)


def cancel(settings: PaymentsSettings, body: CancelRequest, session: Session, callback_url: str | None) -> dict:
    failed = _each(session, body.voucherInstructions, service.cancel)
    if callback_url:
        enqueue(session, settings, "vouchers.cancelled", callback_url, _outcome(body.requestID, failed))
    total = len(body.voucherInstructions)
    return v3_body(
        SUCCESS if not failed else "01", f"{total - len(failed)} of {total} vouchers cancelled", body.requestID
    )


def redeem(settings: PaymentsSettings, body: RedeemRequest, session: Session) -> dict:
    voucher = service.by_serial(session, body.voucherSerialNumber)
    now = iso(utcnow())
    base = {"serialNumber": body.voucherSerialNumber, "timestamp": now}
    if voucher is None or not _secret_matches(settings, voucher, body.voucherSecretNumber):
        return {**base, "status": 0, "message": "invalid voucher", "value": 0.0, "transactionId": None}
    try:
        service.redeem(session, voucher, service.find_merchant(session, merchant_id=body.agentID))
    except VoucherError as exc:
        session.rollback()
        return {
            **base,
            "status": 0,
            "message": exc.message[:20],
            "value": 0.0,
            "transactionId": None,
            "reason": exc.message,
        }
    return {
        **base,
        "status": 1,
        "message": "redeemed",
        "value": plain(voucher.amount),
        "transactionId": voucher.serial_number,
    }


def _secret_matches(settings: PaymentsSettings, voucher: Voucher, secret: str) -> bool:
    import hmac

    return hmac.compare_digest(voucher.secret_hash, service.secret_hash(settings, secret))


@router.get("/vouchers/{serialNumber}", summary="Voucher status (v3)", **answers(VoucherStatus))
def voucher_status(
    serialNumber: str,  # the spec's name
    session: Session = DBSession,
    fields: str = Query(pattern="^status$"),
) -> dict:
    voucher = service.by_serial(session, serialNumber) if len(serialNumber) <= 20 else None
    if voucher is None:
        raise APIError(
            400,
            {"status": 9, "message": "invalid voucher serial number", "serialNumber": serialNumber[:20], "value": 0.0},
        )
    return {"status": service.v3_status(voucher), "serialNumber": voucher.serial_number, "value": plain(voucher.amount)}


@sandbox_router.get("/voucher-groups", summary="Voucher groups and their programmes", **answers(list[VoucherGroupView]))
def voucher_groups(session: Session = DBSession) -> list[dict]:
    return [
        {
            "groupCode": g.code,
            "name": g.name,
            "currency": g.currency,
            "programme": g.programme_code,
            "maxVouchers": g.max_vouchers,
            "maxAmount": plain(g.max_amount),
        }
        for g in session.scalars(select(VoucherGroup).order_by(VoucherGroup.code))
    ]


@sandbox_router.get("/merchants", summary="Merchants accepting vouchers", **answers(list[MerchantView]))
def merchants(session: Session = DBSession) -> list[dict]:
    return [
        {
            "agentID": m.id,
            "name": m.name,
            "bankDetails": m.bank_details,
            "voucherGroups": [g for g in m.voucher_groups.split(",") if g],
            "active": m.active,
        }
        for m in session.scalars(select(Merchant).order_by(Merchant.id))
    ]
