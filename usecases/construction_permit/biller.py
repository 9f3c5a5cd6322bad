"""The biller endpoints the Payments hub calls through the IM (service
`SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT/callbacks`), per the P2G API files; see the README for the
choices where those files contradict each other."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.assertion import VerifiedCall
from services.common.im_client import current_message_id

from . import billing, service
from .models import Bill
from .settings import PAYMENTS_CLIENT, PAYMENTS_P2G

log = logging.getLogger(__name__)
router = APIRouter(tags=["P2G biller"])


class Refused(Exception):
    def __init__(self, status: int, code: str, reason: str, request_id: str = ""):
        self.status, self.code, self.reason, self.request_id = status, code, reason, request_id


def refused(request: Request, exc: Refused) -> JSONResponse:
    return JSONResponse({"code": exc.code, "reason": exc.reason, "requestID": exc.request_id[:12]}, exc.status)


def from_hub(request: Request) -> VerifiedCall:
    """Only the Payments hub, through the IM (its signed assertion), may call these endpoints."""
    correlation = request.headers.get("X-CorrelationID", "")
    caller = im_caller(request)  # verified by the IM guard (services/common/guard.py)
    if caller is None:
        raise Refused(401, "98", "biller endpoints are served only through the IM", correlation)
    if caller.client != PAYMENTS_CLIENT:
        raise Refused(403, "97", f"only {PAYMENTS_CLIENT} may call the biller endpoints", correlation)
    return caller


def correlation_id(request: Request) -> str:
    value = request.headers.get("X-CorrelationID", "")
    if not value or len(value) > 64:
        raise Refused(400, "02", "X-CorrelationID header required (at most 64 characters)")
    return value


async def json_object(request: Request, request_id: str) -> dict:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "02", "the body must be a JSON object", request_id)
    return body


def text_field(body: dict, request_id: str, *names: str) -> str:
    for name in names:
        if isinstance(body.get(name), str) and body[name]:
            return body[name]
    raise Refused(400, "02", f"{names[0]} is required", request_id)


@router.get("/bills/{bill_id}", summary="Bill inquiry from the Payments hub (billInquiryBillerRequest)")
def bill_inquiry(
    bill_id: str, request: Request, session: Session = DBSession, _: VerifiedCall = Depends(from_hub)
) -> JSONResponse:
    request_id = correlation_id(request)
    bill = session.get(Bill, bill_id)
    if bill is None:
        return JSONResponse(
            {"code": "01", "reason": "bill not found", "requestID": request_id[:12], "billId": bill_id}, 404
        )
    return JSONResponse(billing.inquiry_answer(request.app.state.settings, bill, request_id))


@router.post("/billTransferRequests", status_code=202, summary="Mark a bill paid (markBillPpaymentRequest)")
async def mark_bill_paid(request: Request, tasks: BackgroundTasks, _: VerifiedCall = Depends(from_hub)) -> dict:
    request_id = correlation_id(request)
    body = await json_object(request, request_id)
    bill_id = text_field(body, request_id, "billId", "billID")
    reference = text_field(body, request_id, "PaymentReferenceID", "paymentReferenceID")
    payer_fi = (
        request.headers.get("X-PayerFI-ID")
        or request.headers.get("X-Payer FI-ID")
        or request.headers.get("X-PayerFI-Id")
    )
    status, reason = await run_in_threadpool(
        record_payment, request.app, bill_id, reference, payer_fi, current_message_id.get()
    )
    request.app.state.publish_now.set()
    # the status goes back once our answer (and the commit before it) is out
    tasks.add_task(
        send_status,
        request.app,
        request_id,
        body.get("requestID") or request_id,
        bill_id,
        status,
        reason,
        payer_fi or "",
    )
    return {"responseCode": "00", "reason": "accepted", "requestID": request_id[:12]}


def record_payment(
    app: FastAPI,
    bill_id: str,
    reference: str,
    payer_fi: str | None,
    message_id: str | None,
) -> tuple[str, str | None]:
    """In a worker thread with its own transaction: a write lock is never held across the event loop."""
    with app.state.db.session() as session:
        status, reason = billing.mark_paid(session, bill_id, reference, payer_fi)
        if status == "ACK":
            service.confirm_payment(session, session.get(Bill, bill_id), message_id)
    return status, reason


async def send_status(
    app: FastAPI,
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
    settings = app.state.settings
    headers = {"X-CorrelationID": correlation, "X-Platform-TenantId": settings.tenant, "X-PayerFI-ID": payer_fi}
    try:
        response = await app.state.im.request(PAYMENTS_P2G, "POST", "/billTransferRequests", json=body, headers=headers)
        if response.status_code >= 300:
            log.warning("hub refused the bill status update: HTTP %s", response.status_code)
    except httpx.HTTPError as exc:
        log.warning("bill status update not delivered (%s); the hub will resend", type(exc).__name__)


@router.post("/rtpUpdate", summary="Outcome of a request to pay (billerRtpResponse)")
async def rtp_update(request: Request, session: Session = DBSession, _: VerifiedCall = Depends(from_hub)) -> dict:
    request_id = correlation_id(request)
    body = await json_object(request, request_id)
    bill = session.get(Bill, text_field(body, request_id, "billId", "billID"))
    if bill is not None and body.get("rtpStatus") in ("00", "01"):
        bill.rtp_status = body["rtpStatus"]
    return {"responseCode": "00", "responseDescription": "received", "requestID": request_id[:12]}


@router.post(
    "/transferRequests/{transfer_request_id}",
    status_code=202,
    summary="Status of a request to pay, pushed by the hub (rtpStatusUpdateResponse)",
)
async def transfer_request_status(
    transfer_request_id: str, request: Request, _: VerifiedCall = Depends(from_hub)
) -> dict:
    request_id = correlation_id(request)
    await json_object(request, request_id)
    return {"responseCode": "00", "reason": "received", "requestID": request_id[:12]}
