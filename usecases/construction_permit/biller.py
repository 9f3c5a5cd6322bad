"""The biller endpoints the Payments hub calls through the IM (service
`SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT/callbacks`), per the P2G API files; see the README for the
choices where those files contradict each other."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from services.common.app import im_caller
from services.common.assertion import VerifiedCall
from services.common.database import Database
from services.common.errors import DomainError, ErrorRenderer
from services.common.im_client import IMClient, current_message_id
from usecases.common.schemas import AS_BUILT, Answer

from . import billing, service
from .dependencies import DB, IM, Databases, Settings, WakePublisher
from .models import Bill
from .settings import ConstructionPermitSettings

log = logging.getLogger(__name__)
router = APIRouter(tags=["P2G biller"])


class Refused(DomainError):
    """A refusal in the P2G biller shape: `{code, reason, requestID}`."""

    def __init__(self, status: int, code: str, reason: str, request_id: str = ""):
        super().__init__(reason, status)
        self.code, self.request_id = code, request_id

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        body = {"code": self.code, "reason": self.message, "requestID": self.request_id[:12]}
        return JSONResponse(body, self.status_code)


async def from_hub(request: Request, settings: Settings) -> VerifiedCall:
    """Only the Payments hub, through the IM (its signed assertion), may call these endpoints."""
    correlation = request.headers.get("X-CorrelationID", "")
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        raise Refused(401, "98", "biller endpoints are served only through the IM", correlation)
    if caller.client != settings.payments_client:
        raise Refused(403, "97", f"only {settings.payments_client} may call the biller endpoints", correlation)
    return caller


FromHub = Annotated[VerifiedCall, Depends(from_hub)]


def correlation_id(request: Request) -> str:
    value = request.headers.get("X-CorrelationID", "")
    if not value or len(value) > 64:
        raise Refused(400, "02", "X-CorrelationID header required (at most 64 characters)")
    return value


async def hub_body(request: Request, _: FromHub) -> dict[str, Any]:
    """The hub's JSON object, once the caller and the correlation id are checked (in that order)."""
    request_id = correlation_id(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "02", "the body must be a JSON object", request_id)
    return body


HubBody = Annotated[dict[str, Any], Depends(hub_body)]


class HubAnswer(Answer):
    """Our acknowledgement to the hub (P2G)."""

    response_code: str = Field(description="00: received")
    reason: str | None = None
    response_description: str | None = None
    request_id: str = Field(alias="requestID")


def text_field(body: dict, request_id: str, *names: str) -> str:
    for name in names:
        if isinstance(body.get(name), str) and body[name]:
            return body[name]
    raise Refused(400, "02", f"{names[0]} is required", request_id)


@router.get("/bills/{bill_id}", summary="Bill inquiry from the Payments hub (billInquiryBillerRequest)")
def bill_inquiry(bill_id: str, request: Request, _: FromHub, session: DB, settings: Settings) -> JSONResponse:
    request_id = correlation_id(request)
    bill = session.get(Bill, bill_id)
    if bill is None:
        return JSONResponse(
            {"code": "01", "reason": "bill not found", "requestID": request_id[:12], "billId": bill_id}, 404
        )
    return JSONResponse(billing.inquiry_answer(settings, bill, request_id))


@router.post(
    "/billTransferRequests",
    status_code=202,
    summary="Mark a bill paid (markBillPpaymentRequest)",
    response_model=HubAnswer,
    **AS_BUILT,
)
async def mark_bill_paid(
    request: Request,
    tasks: BackgroundTasks,
    body: HubBody,
    db: Databases,
    im: IM,
    settings: Settings,
    wake: WakePublisher,
) -> dict:
    request_id = correlation_id(request)
    bill_id = text_field(body, request_id, "billId", "billID")
    reference = text_field(body, request_id, "PaymentReferenceID", "paymentReferenceID")
    payer_fi = (
        request.headers.get("X-PayerFI-ID")
        or request.headers.get("X-Payer FI-ID")
        or request.headers.get("X-PayerFI-Id")
    )
    status, reason = await run_in_threadpool(record_payment, db, bill_id, reference, payer_fi, current_message_id.get())
    wake()
    # the status goes back once our answer (and the commit before it) is out
    tasks.add_task(
        send_status,
        im,
        settings,
        request_id,
        body.get("requestID") or request_id,
        bill_id,
        status,
        reason,
        payer_fi or "",
    )
    return {"responseCode": "00", "reason": "accepted", "requestID": request_id[:12]}


def record_payment(
    db: Database,
    bill_id: str,
    reference: str,
    payer_fi: str | None,
    message_id: str | None,
) -> tuple[str, str | None]:
    """In a worker thread with its own transaction: a write lock is never held across the event loop."""
    with db.session() as session:
        status, reason = billing.mark_paid(session, bill_id, reference, payer_fi)
        if status == "ACK":
            service.confirm_payment(session, session.get(Bill, bill_id), message_id)
    return status, reason


async def send_status(
    im: IMClient,
    settings: ConstructionPermitSettings,
    correlation: str,
    request_id: str,
    bill_id: str,
    status: str,
    reason: str | None,
    payer_fi: str,
) -> None:
    """markBillPpaymentResponse to the hub. If it is lost the hub resends mark-bill-paid, and we answer again."""
    body = {"requestId": str(request_id)[:12], "billId": bill_id, "status": status}
    if reason:
        body["rejectReason"] = reason
    headers = {"X-CorrelationID": correlation, "X-Platform-TenantId": settings.tenant, "X-PayerFI-ID": payer_fi}
    try:
        response = await im.request(
            settings.payments_p2g_service, "POST", "/billTransferRequests", json=body, headers=headers
        )
        if response.status_code >= 300:
            log.warning("hub refused the bill status update: HTTP %s", response.status_code)
    except httpx.HTTPError as exc:
        log.warning("bill status update not delivered (%s); the hub will resend", type(exc).__name__)


@router.post(
    "/rtpUpdate", summary="Outcome of a request to pay (billerRtpResponse)", response_model=HubAnswer, **AS_BUILT
)
def rtp_update(request: Request, body: HubBody, session: DB) -> dict:
    request_id = correlation_id(request)
    bill = session.get(Bill, text_field(body, request_id, "billId", "billID"))
    if bill is not None and body.get("rtpStatus") in ("00", "01"):
        bill.rtp_status = body["rtpStatus"]
    return {"responseCode": "00", "responseDescription": "received", "requestID": request_id[:12]}


@router.post(
    "/transferRequests/{transfer_request_id}",
    status_code=202,
    summary="Status of a request to pay, pushed by the hub (rtpStatusUpdateResponse)",
    response_model=HubAnswer,
    **AS_BUILT,
)
async def transfer_request_status(transfer_request_id: str, request: Request, _: HubBody) -> dict:
    request_id = correlation_id(request)
    return {"responseCode": "00", "reason": "received", "requestID": request_id[:12]}
