"""The municipality's bills (P2G biller side)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.database import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Bill(Base):
    """A fee bill. Amounts are whole USD, as the P2G APIs carry integers."""

    __tablename__ = "cp_bill"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))  # what the bill is for, e.g. an application id
    amount: Mapped[int] = mapped_column(Integer)
    amount_after_due: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="UNPAID")  # UNPAID | PAID
    # the hub's payment reference; one payment per bill, a resent mark-bill-paid carries the same one
    payment_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payer_fi: Mapped[str | None] = mapped_column(String(40), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rtp_status: Mapped[str | None] = mapped_column(String(10), nullable=True)  # 00 accepted, 01 refused
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
