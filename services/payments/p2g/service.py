"""P2G bill payments (spec 9.3): route a bill id to its biller, inquire, post the payment to the ledger, tell
the biller (mark-bill-paid, resent until it acknowledges), and requests-to-pay from billers to payers.

Every hub -> biller call goes through the IM as the Payments application: inquiries synchronously with the
IM client, everything else through the durable outbox (whose sender adds the IM identity).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import as_utc, utcnow
from services.common.database import Database
from services.common.errors import DomainError
from services.common.im_client import MESSAGE_ID_HEADER, IMClient, current_message_id, service_path
from services.common.outbox import Backoff, claim_due

from ..ledger.models import LedgerAccount
from ..ledger.service import InsufficientFunds, transfer
from ..outbox.models import OutboxMessage
from ..outbox.service import enqueue
from ..settings import PaymentsSettings
from .models import Biller, BillInquiry, BillPayment, RequestToPay

log = logging.getLogger(__name__)

UNKNOWN_PREFIX = "no biller is registered for this bill id prefix"
NOT_FOUND = "bill not found"
ALREADY_PAID = "bill already paid"
RTP_STATUS_CODES = {"PENDING": "PND", "ACCEPTED": "PND", "PAID": "COM", "REFUSED": "RJC"}


class P2GError(DomainError):
    """A refused P2G request, answered in the P2G file's error body of the route called (or on the bank's page)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason, status)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who asks: the payer FI (or biller) headers every P2G call carries."""

    correlation_id: str
    tenant: str
    payer_fi: str = ""


def biller_for_bill(session: Session, bill_id: str) -> Biller | None:
    for biller in session.scalars(select(Biller)):
        if bill_id.startswith(biller.bill_prefix):
            return biller
    return None


def biller_url(settings: PaymentsSettings, biller: Biller, path: str) -> str:
    return settings.im_url.rstrip("/") + service_path(biller.im_service, path)


def traced(headers: dict[str, str]) -> dict[str, str]:
    """Outbox headers plus the IM message id of the request being served, if any (see outbox.headers_for)."""
    message_id = current_message_id.get()
    return {**headers, MESSAGE_ID_HEADER: message_id} if message_id else headers


def biller_view(biller: Biller) -> dict:
    return {
        "billerId": biller.id,
        "billerName": biller.name,
        "billIdPrefix": biller.bill_prefix,
        "imService": biller.im_service,
    }


# -- bill inquiry ---------------------------------------------------------------------------------------


def ask_biller(im: IMClient, biller: Biller, bill_id: str, caller: Caller) -> tuple[str, dict | None]:
    """The biller's answer through the IM: ("00", billDetails) or ("01", None) for an unknown bill."""
    headers = {
        "X-CorrelationID": caller.correlation_id,
        "X-Platform-TenantId": caller.tenant,
        "X-PayerFI-Id": caller.payer_fi,
    }
    try:
        response = im.request_sync(biller.im_service, "GET", f"/bills/{quote(bill_id, safe='')}", headers=headers)
    except httpx.HTTPError as exc:
        raise P2GError(f"biller unreachable ({type(exc).__name__})", 502) from exc
    if response.status_code == 404:
        return "01", None
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("billDetails"), dict):
        raise P2GError(f"biller answered the inquiry with HTTP {response.status_code}", 502)
    return body.get("code", "00"), body["billDetails"]


def inquire(session: Session, im: IMClient, bill_id: str, request_id: str, caller: Caller) -> BillInquiry:
    """Asks the bill's biller and records the answer under (payer FI, request id); a retry overwrites it."""
    biller = biller_for_bill(session, bill_id)
    if biller is None:
        raise P2GError(UNKNOWN_PREFIX)
    code, details = ask_biller(im, biller, bill_id, caller)
    inquiry = session.scalar(
        select(BillInquiry).where(BillInquiry.payer_fi == caller.payer_fi, BillInquiry.request_id == request_id)
    )
    if inquiry is None:
        inquiry = BillInquiry(request_id=request_id, payer_fi=caller.payer_fi)
        session.add(inquiry)
    inquiry.bill_id, inquiry.biller_id, inquiry.code = bill_id, biller.id, code
    inquiry.bill_status = str(details.get("billStatus", ""))[:10] if details else None
    inquiry.details = json.dumps(details) if details else None
    inquiry.created_at = utcnow()
    session.flush()
    return inquiry


def inquiry_response(inquiry: BillInquiry) -> dict:
    """The billInquiryResponse body."""
    body = {
        "requestId": inquiry.request_id[:12],
        "code": inquiry.code,
        "reason": "bill found" if inquiry.code == "00" else NOT_FOUND,
        "billId": inquiry.bill_id,
    }
    if inquiry.details:
        body["billDetails"] = json.loads(inquiry.details)
    return body


def _due_date(value: object) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return as_utc(parsed)
    return None


def amount_due(details: dict, now: datetime | None = None) -> Decimal:
    now = now or utcnow()
    due = _due_date(details.get("dueDate"))
    late = due is not None and now > due and details.get("amountAfterDueDate") is not None
    amount = valid_amount(details.get("amountAfterDueDate") if late else details.get("amountonDueDate"))
    if amount is None:
        raise P2GError("the biller sent no valid amount for this bill", 502)
    return amount


def valid_amount(raw: object) -> Decimal | None:
    """A positive amount the ledger can hold exactly (whole units in the sandbox; up to 4 decimals), else None."""
    if isinstance(raw, bool):
        return None
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        return None
    if not amount.is_finite() or not 0 < amount < 10**12 or amount != amount.quantize(Decimal("0.0001")):
        return None
    return amount


# -- bill payment ----------------------------------------------------------------------------------------


def _payment_by_request(session: Session, payer_fi: str, request_id: str) -> BillPayment | None:
    return session.scalar(
        select(BillPayment).where(BillPayment.payer_fi == payer_fi, BillPayment.request_id == request_id)
    )


def _payable_inquiry(session: Session, payer_fi: str, inquiry_request_id: str, bill_id: str) -> BillInquiry:
    inquiry = session.scalar(
        select(BillInquiry).where(BillInquiry.payer_fi == payer_fi, BillInquiry.request_id == inquiry_request_id)
    )
    if inquiry is None or inquiry.bill_id != bill_id:
        raise P2GError("no bill inquiry with this billInquiryRequestId for this bill")
    if inquiry.code != "00":
        raise P2GError(NOT_FOUND)
    if inquiry.bill_status == "PAID":
        raise P2GError(ALREADY_PAID)
    if inquiry.bill_status != "UNPAID":
        raise P2GError(f"bill is not payable (status {inquiry.bill_status})")
    return inquiry


def pay_bill(
    session: Session,
    settings: PaymentsSettings,
    *,
    caller: Caller,
    request_id: str,
    inquiry_request_id: str,
    bill_id: str,
    payment_reference_id: str,
    debit: LedgerAccount,
    rtp: RequestToPay | None = None,
) -> BillPayment:
    """Debits `debit`, credits the biller's collection account and queues mark-bill-paid, in one transaction.

    A retry with the same (payer FI, request id) returns the first payment; any other second payment of the
    bill is refused. Both are guaranteed by unique constraints, so a race cannot debit twice either.
    """
    existing = _payment_by_request(session, caller.payer_fi, request_id)
    if existing is not None:
        if existing.bill_id != bill_id:
            raise P2GError("requestId already used for another bill")
        return existing
    inquiry = _payable_inquiry(session, caller.payer_fi, inquiry_request_id, bill_id)
    if session.scalar(select(BillPayment.id).where(BillPayment.bill_id == bill_id)) is not None:
        raise P2GError(ALREADY_PAID)
    biller = session.get(Biller, inquiry.biller_id)
    collection = session.get(LedgerAccount, biller.collection_account_id)
    amount = amount_due(json.loads(inquiry.details))
    if debit.currency != collection.currency:
        raise P2GError(f"the payer account is not in the bill's currency ({collection.currency})")
    try:
        with session.begin_nested():
            payment = BillPayment(
                bill_id=bill_id,
                biller_id=biller.id,
                payer_fi=caller.payer_fi,
                request_id=request_id,
                inquiry_request_id=inquiry_request_id,
                payment_reference_id=payment_reference_id,
                tenant=caller.tenant,
                debit_account_id=debit.id,
                amount=amount,
                currency=collection.currency,
                rtp_pk=rtp.id if rtp else None,
            )
            session.add(payment)
            session.flush()
            transfer(session, f"p2g-{payment.id}", "p2g_payment", debit, collection, amount, f"bill {bill_id}")
    except InsufficientFunds as exc:
        raise P2GError("insufficient funds in the payer account") from exc
    except IntegrityError as exc:  # lost a race to a concurrent payment of the same bill or request
        existing = _payment_by_request(session, caller.payer_fi, request_id)
        if existing is not None and existing.bill_id == bill_id:
            return existing
        raise P2GError(ALREADY_PAID) from exc
    queue_mark_paid(session, settings, payment, biller)
    return payment


def queue_mark_paid(session: Session, settings: PaymentsSettings, payment: BillPayment, biller: Biller) -> None:
    body = {
        "requestID": payment.request_id[:12],
        "billId": payment.bill_id,
        "PaymentReferenceID": payment.payment_reference_id,
    }
    headers = {
        "X-CorrelationID": payment.request_id,
        "X-Platform-TenantId": payment.tenant,
        "X-PayerFI-ID": payment.payer_fi,
    }
    message = enqueue(
        session,
        settings,
        "p2g.mark_bill_paid",
        biller_url(settings, biller, "/billTransferRequests"),
        body,
        traced(headers),
    )
    payment.mark_sends += 1
    payment.last_outbox_id = message.id
    payment.next_attempt_at = utcnow() + mark_paid_backoff(settings).delay(payment.mark_sends)


def mark_paid_backoff(settings: PaymentsSettings) -> Backoff:
    """Mark-bill-paid is queued again after a doubling wait for the biller's ACK, at most `p2g_mark_max_sends` times."""
    return Backoff(settings.p2g_ack_wait_seconds, settings.callback_backoff_cap_seconds, settings.p2g_mark_max_sends)


def resend_unacknowledged(db: Database, settings: PaymentsSettings) -> int:
    """Worker step: mark-bill-paid again for payments whose biller has not acknowledged in time.

    The outbox already retries a send that fails; this resends when a send was delivered (2xx) but the
    biller's ACK/RJC never came, with a doubling wait, and gives up after `p2g_mark_max_sends`.
    """
    with db.session() as session:
        awaiting = BillPayment.status == "awaiting_ack"  # another replica's worker takes the others
        claimed = claim_due(session, BillPayment, awaiting, 20, settings.p2g_ack_wait_seconds)
        for payment_id in claimed:
            payment = session.get(BillPayment, payment_id)
            last = session.get(OutboxMessage, payment.last_outbox_id) if payment.last_outbox_id else None
            if last is not None and last.delivered_at is None and not last.dead:
                payment.next_attempt_at = utcnow() + timedelta(seconds=settings.p2g_ack_wait_seconds)
            elif mark_paid_backoff(settings).gives_up(payment.mark_sends):
                payment.status = "unacknowledged"
                log.warning("bill payment %s: biller never acknowledged mark-bill-paid", payment.id)
            else:
                queue_mark_paid(session, settings, payment, session.get(Biller, payment.biller_id))
        return len(claimed)


def record_biller_status(session: Session, bill_id: str, status: str, reject_reason: str | None) -> BillPayment:
    """The biller's markBillPpaymentResponse: ACK settles the payment, RJC refunds the payer."""
    payment = session.scalar(select(BillPayment).where(BillPayment.bill_id == bill_id).with_for_update())
    if payment is None:
        raise P2GError("no payment of this bill was sent to the biller")
    if payment.status not in ("awaiting_ack", "unacknowledged"):
        return payment  # a repeated status update changes nothing
    payment.settled_at = utcnow()
    rtp = session.get(RequestToPay, payment.rtp_pk) if payment.rtp_pk else None
    if status == "ACK":
        payment.status = "acknowledged"
        if rtp is not None:
            rtp.status, rtp.updated_at = "PAID", utcnow()
        return payment
    payment.status, payment.reject_reason = "rejected", (reject_reason or "Def")[:10]
    biller = session.get(Biller, payment.biller_id)
    collection = session.get(LedgerAccount, biller.collection_account_id)
    transfer(
        session,
        f"p2g-refund-{payment.id}",
        "p2g_refund",
        collection,
        session.get(LedgerAccount, payment.debit_account_id),
        payment.amount,
        f"biller rejected bill {bill_id}",
    )
    return payment


# -- request to pay ---------------------------------------------------------------------------------------


def create_rtp(
    session: Session,
    im: IMClient,
    *,
    biller: Biller,
    caller: Caller,
    callback_url: str,
    rtp_id: int,
    request_id: str,
    bill_id: str,
    amount: Decimal,
    payer_fi: str,
    customer_id: int,
) -> RequestToPay:
    """Records an RTP for the payer's inbox once the biller confirms the bill is unpaid (a retry returns it)."""
    existing = session.scalar(
        select(RequestToPay).where(RequestToPay.biller_id == biller.id, RequestToPay.rtp_id == rtp_id)
    )
    if existing is not None:
        return existing
    as_payer_fi = Caller(caller.correlation_id, caller.tenant, payer_fi)
    inquiry = inquire(session, im, bill_id, caller.correlation_id, as_payer_fi)
    if inquiry.code != "00":
        raise P2GError(NOT_FOUND)
    if inquiry.bill_status != "UNPAID":
        paid = inquiry.bill_status == "PAID"
        raise P2GError(ALREADY_PAID if paid else f"bill is not payable ({inquiry.bill_status})")
    rtp = RequestToPay(
        biller_id=biller.id,
        rtp_id=rtp_id,
        request_id=request_id,
        tenant=caller.tenant,
        bill_id=bill_id,
        amount=amount,
        payer_fi=payer_fi,
        customer_id=customer_id,
        callback_url=callback_url,
    )
    try:
        with session.begin_nested():
            session.add(rtp)
            session.flush()
    except IntegrityError:  # the same RTP sent twice at once
        return session.scalar(
            select(RequestToPay).where(RequestToPay.biller_id == biller.id, RequestToPay.rtp_id == rtp_id)
        )
    return rtp


def answer_rtp(
    session: Session,
    im: IMClient,
    settings: PaymentsSettings,
    rtp: RequestToPay,
    *,
    accept: bool,
    debit: LedgerAccount | None,
    reject_reason: str | None = None,
) -> RequestToPay:
    """The payer's answer to an RTP: on acceptance the bill is inquired and paid like any bill payment; either
    way the biller is told with rtpUpdate (to the X-Callback-URL it gave)."""
    decided = "ACCEPTED" if accept else "REFUSED"
    if rtp.status != "PENDING":
        if (rtp.status in ("ACCEPTED", "PAID")) == accept:
            return rtp
        raise P2GError(f"this request to pay was already {rtp.status.lower()}")
    if accept:
        caller = Caller(correlation_id=f"RTP{rtp.id:09d}", tenant=rtp.tenant, payer_fi=rtp.payer_fi)
        inquiry = inquire(session, im, rtp.bill_id, caller.correlation_id, caller)
        payment = pay_bill(
            session,
            settings,
            caller=caller,
            request_id=caller.correlation_id,
            inquiry_request_id=inquiry.request_id,
            bill_id=rtp.bill_id,
            payment_reference_id=f"RTP{rtp.biller_id[:4]}{rtp.rtp_id}"[:16],
            debit=debit,
            rtp=rtp,
        )
        rtp.payment_id = payment.id
    rtp.status, rtp.updated_at = decided, utcnow()
    rtp.reject_reason = None if accept else (reject_reason or "R")[:10]
    body = {
        "requestId": rtp.request_id[:12],
        "rtpId": rtp.rtp_id,
        "billId": rtp.bill_id,
        "rtpStatus": "00" if accept else "01",
    }
    if not accept:
        body["rejectReason"] = rtp.reject_reason
    enqueue(
        session,
        settings,
        "p2g.rtp_update",
        rtp.callback_url,
        body,
        traced({"X-CorrelationID": rtp.request_id, "X-Platform-TenantId": rtp.tenant, "X-billerId": rtp.biller_id}),
    )
    return rtp


def queue_rtp_status(session: Session, settings: PaymentsSettings, rtp: RequestToPay, caller: Caller) -> None:
    """rtpStatusUpdateResponse, POSTed to the biller's `/transferRequests/{id}`."""
    payment = session.get(BillPayment, rtp.payment_id) if rtp.payment_id else None
    body = {
        "rtpId": rtp.rtp_id,
        "RequestId": rtp.request_id[:12],
        "requestStatus": RTP_STATUS_CODES[rtp.status],
        "PaymentReferenceID": payment.payment_reference_id if payment else None,
        "lastUpdateDate": int(rtp.updated_at.timestamp()),
    }
    biller = session.get(Biller, rtp.biller_id)
    enqueue(
        session,
        settings,
        "p2g.rtp_status",
        biller_url(settings, biller, f"/transferRequests/{rtp.rtp_id}"),
        body,
        traced(
            {"X-CorrelationID": caller.correlation_id, "X-Platform-TenantId": caller.tenant, "X-billerId": biller.id}
        ),
    )
