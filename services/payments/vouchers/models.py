"""Voucher groups, merchants and vouchers. Voucher secret numbers are kept only as keyed hashes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import utcnow
from services.common.database import UTCDateTime

from ..base import Base, Money


class VoucherGroup(Base):
    __tablename__ = "voucher_groups"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    programme_code: Mapped[str] = mapped_column(ForeignKey("programmes.code"))
    max_vouchers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_amount: Mapped[Decimal | None] = mapped_column(Money, nullable=True)


class VoucherIssuer(Base):
    """A building block that may issue, activate, redeem and cancel vouchers through the 1.0 API (Gov_Stack_BB):
    `voucher_issuers` of seed.yaml, plus the conformance fixtures' when they are loaded."""

    __tablename__ = "voucher_issuers"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(10), primary_key=True)  # agentID
    name: Mapped[str] = mapped_column(String(120))
    bank_details: Mapped[str | None] = mapped_column(String(120), nullable=True)
    voucher_groups: Mapped[str] = mapped_column(String(200), default="")  # comma-separated group codes
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    active: Mapped[bool] = mapped_column(default=True)


# status: preactivated -> activated -> redeemed; cancelled, blocked, suspended at any point before redeemed.
class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (UniqueConstraint("issuer", "request_id", "instruction_id"),)

    serial_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), index=True)
    api: Mapped[str] = mapped_column(String(4), default="v1")  # which API issued it (secret format)
    group_code: Mapped[str] = mapped_column(ForeignKey("voucher_groups.code"))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    issuer: Mapped[str] = mapped_column(String(40))  # Gov_Stack_BB / registering institution
    request_id: Mapped[str] = mapped_column(String(40))
    instruction_id: Mapped[str] = mapped_column(String(40), default="")
    payee_identity: Mapped[str | None] = mapped_column(String(40), nullable=True)
    narration: Mapped[str | None] = mapped_column(String(50), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="preactivated")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    merchant_id: Mapped[str | None] = mapped_column(String(10), nullable=True)
    entry_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # How many times the voucher was restored after a redemption (conformance fixtures only): the ledger entry
    # of a redemption is `vch-<serial>` (then `vch-<serial>-<cycle>`), so each cycle pays out at most once.
    cycle: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The first issuance answer (it holds the secret), encrypted, so a retried request gets it back.
    issue_response: Mapped[str | None] = mapped_column(Text, nullable=True)
