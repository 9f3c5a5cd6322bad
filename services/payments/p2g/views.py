"""P2G routes of the hub (api/P2G API YAMLs): bill inquiry and payment from payer FIs, the billers' status
updates, request-to-pay and its status inquiry; plus `GET /p2g/billers` (sandbox)."""

from __future__ import annotations

from fastapi import Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession

from .. import envelopes
from ..accounts import fsp_settlement_account
from ..bank.models import BankCustomer
from ..bank.service import account_of, find_by_account, find_by_alias
from ..dependencies import IM, Settings
from ..envelopes import FAILURE, SUCCESS, answers, request_id_of, shaped_router
from ..fsps.models import FSP
from ..outbox.service import enqueue
from . import service
from .models import Biller, RequestToPay
from .schemas import (
    BillerView,
    BillInquiryAnswer,
    BillStatusUpdate,
    BillTransferAnswer,
    BillTransferBody,
    RtpAnswer,
    RtpRequest,
    RtpStatusAnswer,
)
from .service import Caller, P2GError


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


router = shaped_router(p2g_error, ["P2G bill payments"])
sandbox_router = shaped_router(envelopes.v3_error, ["P2G bill payments (sandbox)"])


@sandbox_router.get("/p2g/billers", summary="Billers registered with the hub", **answers(list[BillerView]))
def list_billers(session: Session = DBSession) -> list[dict]:
    return [service.biller_view(b) for b in session.scalars(select(Biller).order_by(Biller.id))]


@router.get(
    "/bills/{billId}",
    status_code=202,
    summary="Bill inquiry from a payer FI (billInquiryRequest)",
    **answers(BillInquiryAnswer, 202),
)
def bill_inquiry(
    settings: Settings,
    im: IM,
    billId: str = Path(max_length=20),  # the spec's name
    session: Session = DBSession,
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
    caller = Caller(
        correlation_id,
        _required(tenant or x_tenant, "Platform-TenantId"),
        _required(payer_fi or x_payer_fi, "PayerFI-Id"),
    )
    inquiry = service.inquire(session, im, bill_id, correlation_id, caller)
    answer = service.inquiry_response(inquiry)
    if callback_url:
        enqueue(
            session,
            settings,
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


# The header checks below are dependencies: they refuse a request before its body is read, as they always did.


def _transfer_tenant(
    tenant: str | None = Header(default=None, alias="X-Platform-TenantId", max_length=20),
    plain_tenant: str | None = Header(default=None, alias="Platform-TenantId", max_length=20),
) -> str:
    return _required(tenant or plain_tenant, "X-Platform-TenantId")


def _rtp_biller(
    session: Session = DBSession, biller_id: str = Header(alias="X-billerId", min_length=1, max_length=20)
) -> Biller:
    biller = session.get(Biller, biller_id)
    if biller is None:
        raise P2GError("unknown biller (X-billerId)")
    return biller


@router.post(
    "/billTransferRequests",
    status_code=202,
    summary="Bill payment from a payer FI (billPaymentRequest) or a biller's status (markBillPpaymentResponse)",
    **answers(BillTransferAnswer, 202),
)
def bill_transfer(
    settings: Settings,
    body: BillTransferBody,
    session: Session = DBSession,
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str = Depends(_transfer_tenant),
    payer_fi: str | None = Header(default=None, alias="X-PayerFI-Id", max_length=20),
    plain_payer_fi: str | None = Header(default=None, alias="PayerFI-Id", max_length=20),
) -> dict:
    if isinstance(body, BillStatusUpdate):
        return _biller_status(session, body)
    caller = Caller(correlation_id, tenant, _required(payer_fi or plain_payer_fi, "X-PayerFI-Id"))
    if session.get(FSP, caller.payer_fi) is None:
        raise P2GError("the payer FI is not linked to the hub")
    payment = service.pay_bill(
        session,
        settings,
        caller=caller,
        request_id=body.requestId,
        inquiry_request_id=body.billInquiryRequestId,
        bill_id=body.billId,
        payment_reference_id=body.paymentReferenceID,
        debit=fsp_settlement_account(session, caller.payer_fi, "USD"),
    )
    return {"responseCode": SUCCESS, "reason": "accepted", "requestID": payment.request_id}


def _biller_status(session: Session, body: BillStatusUpdate) -> dict:
    payment = service.record_biller_status(session, body.billId, body.status, body.rejectReason)
    return {
        "responseCode": SUCCESS,
        "reason": f"status recorded: payment {payment.status}",
        "requestID": str(body.requestId or ""),
    }


@router.post("/rtpRequest", summary="Request to pay from a biller (billerRtpReq)", **answers(RtpAnswer))
def rtp_request(
    im: IM,
    body: RtpRequest,
    session: Session = DBSession,
    correlation_id: str = Header(alias="X-CorrelationID", min_length=1, max_length=20),
    tenant: str = Header(alias="X-Platform-TenantId", min_length=1, max_length=20),
    biller: Biller = Depends(_rtp_biller),
    callback_url: str = Header(alias="X-Callback-URL", min_length=1, max_length=500),
) -> dict:
    """The bill is checked with its biller (an inquiry through the IM) before the RTP reaches the payer."""
    request_id = str(body.requestId or correlation_id)[:20]
    if not body.billId.startswith(biller.bill_prefix):
        raise P2GError("the bill id does not carry this biller's prefix")
    customer = _rtp_payer(session, body)
    account = account_of(session, customer)
    service.create_rtp(
        session,
        im,
        biller=biller,
        caller=Caller(correlation_id, tenant),
        callback_url=callback_url,
        rtp_id=body.rtpId,
        request_id=request_id,
        bill_id=body.billId,
        amount=body.billDetails.amount,
        payer_fi=account.owner,
        customer_id=customer.id,
    )
    return {"responseCode": SUCCESS, "responseDescription": "accepted", "requestID": request_id}


def _rtp_payer(session: Session, body: RtpRequest) -> BankCustomer:
    alias, fi = body.alias or {}, body.payerFiDetails or {}
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
    **answers(RtpStatusAnswer, 202),
)
def rtp_status(
    settings: Settings,
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
        raise P2GError("unknown transfer request")
    service.queue_rtp_status(session, settings, rtp, Caller(correlation_id, tenant))
    return {
        "responseCode": SUCCESS,
        "reason": f"request to pay {rtp.status.lower()}",
        "requestID": correlation_id,
        "rtpStatus": rtp.status,
        "billId": rtp.bill_id,
    }
