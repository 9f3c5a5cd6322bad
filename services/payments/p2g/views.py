"""P2G routes of the hub (api/P2G API YAMLs): bill inquiry and payment from payer FIs, the billers' status
updates, request-to-pay and its status inquiry; plus `GET /p2g/billers` (sandbox)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_client
from services.common.errors import APIError
from services.common.im_client import IMClient

from ..accounts import fsp_settlement_account
from ..bank.models import BankCustomer
from ..bank.service import account_of, find_by_account, find_by_alias
from ..envelopes import FAILURE, SUCCESS, request_id_of, valid_callback_url
from ..fsps.models import FSP
from ..outbox.service import enqueue
from . import service
from .models import Biller, RequestToPay
from .service import Caller, P2GError

router = APIRouter(tags=["P2G bill payments"], dependencies=[Depends(valid_callback_url)])


def error_body(path: str, reason: str, request_id: str) -> dict:
    """Each P2G file documents its own 400 body."""
    if path.startswith("/bills"):
        return {"responseCode": FAILURE, "reason": reason[:200], "requestId": request_id}
    if path.startswith(("/billTransferRequests", "/transferRequests")):
        return {"code": FAILURE, "reason": reason[:200], "requestID": request_id}
    return {"responseCode": FAILURE, "responseDescription": reason[:200], "requestID": request_id}


def p2g_error(request: Request, status: int, message: str, details: list) -> Response:
    body = error_body(request.url.path, message, request_id_of(request))
    return JSONResponse(body, status_code=status)


def _fail(request: Request, exc: P2GError, request_id: str) -> APIError:
    return APIError(exc.status, error_body(request.url.path, exc.reason, request_id))


def _text(body: dict, *names: str, max_length: int, required: bool = True) -> str | None:
    """A string field (first of its accepted spellings), length-checked."""
    value = next((body[n] for n in names if body.get(n) not in (None, "")), None)
    if value is None:
        if required:
            raise P2GError(f"{names[0]} is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_length:
        raise P2GError(f"{names[0]} must be a string of at most {max_length} characters")
    return value


@router.get("/p2g/billers", tags=["P2G bill payments (sandbox)"], summary="Billers registered with the hub")
def list_billers(session: Session = DBSession) -> list[dict]:
    return [service.biller_view(b) for b in session.scalars(select(Biller).order_by(Biller.id))]


@router.get("/bills/{billId}", status_code=202, summary="Bill inquiry from a payer FI (billInquiryRequest)")
def bill_inquiry(
    request: Request,
    billId: str = Path(max_length=20),  # the spec's name
    session: Session = DBSession,
    im: IMClient = Depends(im_client),
    fields: str = Query(pattern="^inquiry$"),
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str | None = Header(default=None, alias="Platform-TenantId", max_length=20),
    x_tenant: str | None = Header(default=None, alias="X-Platform-TenantId", max_length=20),
    payer_fi: str | None = Header(default=None, alias="PayerFI-Id", max_length=20),
    x_payer_fi: str | None = Header(default=None, alias="X-PayerFI-Id", max_length=20),
    callback_url: str | None = Header(default=None, alias="X-Callback-URL", max_length=500),
) -> dict:
    """Answers 202 with the billInquiryResponse fields (sandbox: no callback needed); with `X-Callback-URL`
    the billInquiryResponse is also POSTed to `<callback>/bills/{billId}` through the outbox."""
    bill_id = billId
    try:
        caller = Caller(
            correlation_id,
            _required(tenant or x_tenant, "Platform-TenantId"),
            _required(payer_fi or x_payer_fi, "PayerFI-Id"),
        )
        inquiry = service.inquire(session, im, bill_id, correlation_id, caller)
    except P2GError as exc:
        raise _fail(request, exc, correlation_id) from exc
    answer = service.inquiry_response(inquiry)
    if callback_url:
        enqueue(
            session,
            request.app.state.settings,
            "p2g.bill_inquiry",
            f"{callback_url.rstrip('/')}/bills/{bill_id}",
            answer,
            service.traced(
                {"X-CorrelationID": correlation_id, "Platform-TenantId": caller.tenant, "PayerFI-Id": caller.payer_fi}
            ),
        )
    return {"responseCode": answer["code"], **answer}


def _required(value: str | None, name: str) -> str:
    if not value:
        raise P2GError(f"header {name} is required")
    return value


@router.post(
    "/billTransferRequests",
    status_code=202,
    summary="Bill payment from a payer FI (billPaymentRequest) or a biller's status (markBillPpaymentResponse)",
)
def bill_transfer(
    request: Request,
    body: dict[str, Any] = Body(),
    session: Session = DBSession,
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str | None = Header(default=None, alias="X-Platform-TenantId", max_length=20),
    plain_tenant: str | None = Header(default=None, alias="Platform-TenantId", max_length=20),
    payer_fi: str | None = Header(default=None, alias="X-PayerFI-Id", max_length=20),
    plain_payer_fi: str | None = Header(default=None, alias="PayerFI-Id", max_length=20),
) -> dict:
    settings = request.app.state.settings
    request_id = str(body.get("requestId") or body.get("requestID") or correlation_id)
    try:
        tenant = _required(tenant or plain_tenant, "X-Platform-TenantId")
        if "status" in body:
            return _biller_status(session, body)
        caller = Caller(correlation_id, tenant, _required(payer_fi or plain_payer_fi, "X-PayerFI-Id"))
        if session.get(FSP, caller.payer_fi) is None:
            raise P2GError("the payer FI is not linked to the hub")
        request_id = _text(body, "requestId", "requestID", max_length=20)
        payment = service.pay_bill(
            session,
            settings,
            caller=caller,
            request_id=request_id,
            inquiry_request_id=_text(body, "billInquiryRequestId", max_length=20),
            bill_id=_text(body, "billId", max_length=20),
            payment_reference_id=_text(body, "paymentReferenceID", "PaymentReferenceID", max_length=20),
            debit=fsp_settlement_account(session, caller.payer_fi, "USD"),
        )
    except P2GError as exc:
        raise _fail(request, exc, request_id) from exc
    return {"responseCode": SUCCESS, "reason": "accepted", "requestID": payment.request_id}


def _biller_status(session: Session, body: dict) -> dict:
    status = body.get("status")
    if status not in ("ACK", "RJC"):
        raise P2GError("status must be ACK or RJC")
    reason = _text(body, "rejectReason", max_length=100, required=False)
    payment = service.record_biller_status(session, _text(body, "billId", max_length=20), status, reason)
    return {
        "responseCode": SUCCESS,
        "reason": f"status recorded: payment {payment.status}",
        "requestID": str(body.get("requestId") or body.get("requestID") or ""),
    }


@router.post("/rtpRequest", summary="Request to pay from a biller (billerRtpReq)")
def rtp_request(
    request: Request,
    body: dict[str, Any] = Body(),
    session: Session = DBSession,
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str = Header(alias="X-Platform-TenantId", min_length=1, max_length=20),
    biller_id: str = Header(alias="X-billerId", min_length=1, max_length=20),
    callback_url: str = Header(alias="X-Callback-URL", min_length=1, max_length=500),
    im: IMClient = Depends(im_client),
) -> dict:
    """The bill is checked with its biller (an inquiry through the IM) before the RTP reaches the payer."""
    request_id = str(body.get("requestId") or correlation_id)[:20]
    try:
        biller = session.get(Biller, biller_id)
        if biller is None:
            raise P2GError("unknown biller (X-billerId)")
        bill_id = _text(body, "billID", "billId", max_length=20)
        if not bill_id.startswith(biller.bill_prefix):
            raise P2GError("the bill id does not carry this biller's prefix")
        rtp_id = body.get("rtpId")
        if isinstance(rtp_id, str) and rtp_id.isdigit():
            rtp_id = int(rtp_id)
        if not isinstance(rtp_id, int) or isinstance(rtp_id, bool) or not 0 < rtp_id < 2**31:
            raise P2GError("rtpId must be a positive integer")
        customer = _rtp_payer(session, body)
        details = body.get("billDetails") if isinstance(body.get("billDetails"), dict) else {}
        amount = service.valid_amount(details.get("amount"))
        if amount is None:
            raise P2GError("billDetails.amount must be a positive number")
        account = account_of(session, customer)
        service.create_rtp(
            session,
            im,
            biller=biller,
            caller=Caller(correlation_id, tenant),
            callback_url=callback_url,
            rtp_id=rtp_id,
            request_id=request_id,
            bill_id=bill_id,
            amount=amount,
            payer_fi=account.owner,
            customer_id=customer.id,
        )
    except P2GError as exc:
        raise _fail(request, exc, request_id) from exc
    return {"responseCode": SUCCESS, "responseDescription": "accepted", "requestID": request_id}


def _rtp_payer(session: Session, body: dict) -> BankCustomer:
    alias = body.get("alias") if isinstance(body.get("alias"), dict) else {}
    fi = body.get("payerFiDetails") if isinstance(body.get("payerFiDetails"), dict) else {}
    if alias.get("aliasId"):
        customer = find_by_alias(session, alias.get("aliasType"), str(alias["aliasId"]))
    else:
        customer = find_by_account(session, fi.get("financialAddress"))
    if customer is None:
        raise P2GError("unknown payer: no account found for this alias or financial address")
    return customer


@router.get(
    "/transferRequests/{transferRequestId}",
    status_code=202,
    summary="Status of a request to pay (rtpStatusUpdateRequest)",
)
def rtp_status(
    request: Request,
    transferRequestId: str = Path(max_length=20),  # the spec's name
    session: Session = DBSession,
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str = Header(alias="X-Platform-TenantId", min_length=1, max_length=20),
    biller_id: str = Header(alias="X-billerId", min_length=1, max_length=20),
) -> dict:
    """Answers 202 with the RTP's status (sandbox extension: `rtpStatus`, `billId`) and POSTs the
    rtpStatusUpdateResponse to the biller's `/transferRequests/{id}`."""
    rtp = None
    if transferRequestId.isdigit() and len(transferRequestId) < 10:
        rtp = session.scalar(
            select(RequestToPay).where(
                RequestToPay.biller_id == biller_id, RequestToPay.rtp_id == int(transferRequestId)
            )
        )
    if rtp is None:
        raise _fail(request, P2GError("unknown transfer request"), correlation_id)
    service.queue_rtp_status(session, request.app.state.settings, rtp, Caller(correlation_id, tenant))
    return {
        "responseCode": SUCCESS,
        "reason": f"request to pay {rtp.status.lower()}",
        "requestID": correlation_id,
        "rtpStatus": rtp.status,
        "billId": rtp.bill_id,
    }
