"""P2G: billers registered with the hub, bill inquiries, bill payments and requests-to-pay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime

from ..base import Base, Money


class Biller(Base):
    __tablename__ = "billers"

    id: Mapped[str] = mapped_column(String(10), primary_key=True)  # billerId (spec maxLength 10)
    name: Mapped[str] = mapped_column(String(120))
    bill_prefix: Mapped[str] = mapped_column(String(10), unique=True)
    im_service: Mapped[str] = mapped_column(String(200))  # the biller's endpoints, reached through the IM
    collection_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))


class BillInquiry(Base):
    """The biller's answer to one inquiry; a payment must refer to an inquiry that found the bill unpaid."""

    __tablename__ = "bill_inquiries"
    __table_args__ = (UniqueConstraint("payer_fi", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(20))
    payer_fi: Mapped[str] = mapped_column(String(20))
    bill_id: Mapped[str] = mapped_column(String(20))
    biller_id: Mapped[str] = mapped_column(ForeignKey("billers.id"))
    code: Mapped[str] = mapped_column(String(2))  # 00 found, 01 not found
    bill_status: Mapped[str | None] = mapped_column(String(10), nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # billDetails as the biller sent them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Payment status: awaiting_ack -> acknowledged | rejected (refunded) | unacknowledged (gave up resending).
class BillPayment(Base):
    __tablename__ = "bill_payments"
    # bill_id unique: a bill is paid at most once through the hub, whatever the client retries or races.
    __table_args__ = (UniqueConstraint("bill_id"), UniqueConstraint("payer_fi", "request_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bill_id: Mapped[str] = mapped_column(String(20))
    biller_id: Mapped[str] = mapped_column(ForeignKey("billers.id"))
    payer_fi: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str] = mapped_column(String(20))
    inquiry_request_id: Mapped[str] = mapped_column(String(20))
    payment_reference_id: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[str] = mapped_column(String(20))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="awaiting_ack")
    reject_reason: Mapped[str | None] = mapped_column(String(10), nullable=True)
    mark_sends: Mapped[int] = mapped_column(Integer, default=0)  # mark-bill-paid messages queued so far
    # When mark-bill-paid is due again (`services.common.outbox.claim_due` reads `next_attempt_at`).
    next_attempt_at: Mapped[datetime] = mapped_column("next_mark_at", UTCDateTime, default=utcnow)
    last_outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rtp_pk: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# RTP status: PENDING -> ACCEPTED (paid, awaiting the biller's ACK) -> PAID, or REFUSED.
class RequestToPay(Base):
    __tablename__ = "requests_to_pay"
    __table_args__ = (UniqueConstraint("biller_id", "rtp_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    biller_id: Mapped[str] = mapped_column(ForeignKey("billers.id"))
    rtp_id: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[str] = mapped_column(String(20))
    bill_id: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    payer_fi: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int] = mapped_column(ForeignKey("bank_customers.id"))
    callback_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="PENDING")
    reject_reason: Mapped[str | None] = mapped_column(String(10), nullable=True)
    payment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
