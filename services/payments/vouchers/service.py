"""Voucher life cycle: issue (pre-activate), activate, redeem (ledger: funding debited, merchant credited),
cancel, status. Secret numbers exist in clear only in the issuance answer; the DB keeps a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.common.errors import DomainError
from services.common.keys import load_or_create_secret

from ..accounts import funding_account, merchant_code
from ..authorization import check_owner
from ..g2p.models import Programme
from ..ledger.service import InsufficientFunds, ensure_account, transfer
from ..outbox.service import _fernet
from ..settings import PaymentsSettings
from .models import Merchant, Voucher, VoucherGroup


class VoucherError(DomainError):
    """A refused voucher operation: 400 on the v3 API; the 1.0 API answers each `code` with its own status."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code  # invalid_amount, invalid_currency, invalid_group, group_exhausted, unknown, ...


@cache
def _pepper(keys_dir: Path) -> bytes:
    return load_or_create_secret(keys_dir, "payments-voucher-pepper").encode()


def secret_hash(settings: PaymentsSettings, secret: str) -> str:
    return hmac.new(_pepper(settings.keys_dir), secret.encode(), hashlib.sha256).hexdigest()


def random_digits(n: int) -> str:
    """n random digits, never starting with 0 (the 1.0 API carries numbers as integers)."""
    return secrets.choice("123456789") + "".join(secrets.choice("0123456789") for _ in range(n - 1))


@dataclass
class Issued:
    voucher: Voucher
    secret: str


def group_or_fail(session: Session, code: str | None) -> VoucherGroup:
    group = session.get(VoucherGroup, code) if code else None
    if group is None:
        raise VoucherError("invalid_group", "invalid voucher group")
    return group


def check_funder(session: Session, group: VoucherGroup, caller: str | None) -> None:
    """Vouchers commit their group's programme fund: only the programme's owner issues them (NotAllowed)."""
    check_owner(session.get(Programme, group.programme_code), caller)


def check_issue(session: Session, group: VoucherGroup, amount: Decimal, currency: str, planned: int = 1) -> None:
    if amount <= 0 or (group.max_amount is not None and amount > group.max_amount):
        raise VoucherError("invalid_amount", "invalid amount for this voucher group")
    if currency != group.currency:
        raise VoucherError("invalid_currency", f"voucher group {group.code} issues {group.currency} vouchers")
    if group.max_vouchers is not None:
        issued = session.scalar(select(func.count()).select_from(Voucher).where(Voucher.group_code == group.code))
        if issued + planned > group.max_vouchers:
            raise VoucherError("group_exhausted", "voucher group exhausted")


def issue(
    session: Session,
    settings: PaymentsSettings,
    *,
    api: str,
    group: VoucherGroup,
    amount: Decimal,
    currency: str,
    issuer: str,
    request_id: str,
    instruction_id: str = "",
    payee: str | None = None,
    narration: str | None = None,
) -> Issued:
    serial_len, secret_len = (16, 16) if api == "v1" else (10, 6)
    while True:
        serial, secret = random_digits(serial_len), random_digits(secret_len)
        hashed = secret_hash(settings, secret)
        if session.get(Voucher, serial) is None and (
            api != "v1" or session.scalar(select(Voucher.serial_number).where(Voucher.secret_hash == hashed)) is None
        ):
            break
    voucher = Voucher(
        serial_number=serial,
        secret_hash=hashed,
        api=api,
        group_code=group.code,
        amount=amount,
        currency=currency,
        issuer=issuer,
        request_id=request_id,
        instruction_id=instruction_id,
        payee_identity=payee,
        narration=narration,
        status="preactivated",
        expires_at=utcnow() + timedelta(days=settings.voucher_validity_days),
    )
    session.add(voucher)
    session.flush()
    return Issued(voucher, secret)


def remember_answer(settings: PaymentsSettings, voucher: Voucher, answer: dict) -> None:
    voucher.issue_response = _fernet(settings.keys_dir).encrypt(json.dumps(answer).encode()).decode()


def replayed_voucher(session: Session, issuer: str, request_id: str) -> Voucher | None:
    """The voucher a request with this id issued first (its answer is kept), if any."""
    return session.scalar(
        select(Voucher).where(
            Voucher.issuer == issuer, Voucher.request_id == request_id, Voucher.issue_response.is_not(None)
        )
    )


def first_answer(settings: PaymentsSettings, voucher: Voucher) -> dict:
    return json.loads(_fernet(settings.keys_dir).decrypt(voucher.issue_response.encode()))


def replayed_answer(session: Session, settings: PaymentsSettings, issuer: str, request_id: str) -> dict | None:
    voucher = replayed_voucher(session, issuer, request_id)
    return first_answer(settings, voucher) if voucher is not None else None


def same_issue(voucher: Voucher, group: str, amount: Decimal, currency: str) -> bool:
    """Whether a retried issuance asks for what the first one issued."""
    return voucher.group_code == group and voucher.amount == amount and voucher.currency == currency


def is_expired(voucher: Voucher) -> bool:
    return voucher.expires_at <= utcnow()


def by_serial(session: Session, serial: str) -> Voucher | None:
    return session.get(Voucher, serial)


def by_secret(session: Session, settings: PaymentsSettings, secret: str) -> Voucher | None:
    return session.scalar(
        select(Voucher).where(Voucher.secret_hash == secret_hash(settings, secret), Voucher.api == "v1")
    )


def activate(session: Session, voucher: Voucher | None) -> Voucher:
    if voucher is None:
        raise VoucherError("unknown", "invalid voucher serial number")
    if voucher.status == "activated":
        return voucher
    if voucher.status != "preactivated":
        raise VoucherError("not_activatable", f"voucher is {voucher.status}")
    if is_expired(voucher):
        raise VoucherError("expired", "voucher has expired")
    voucher.status = "activated"
    voucher.activated_at = utcnow()
    return voucher


def cancel(session: Session, voucher: Voucher | None) -> Voucher:
    if voucher is None:
        raise VoucherError("unknown", "invalid voucher")
    if voucher.status == "cancelled":
        raise VoucherError("already_cancelled", "voucher is already cancelled")
    if voucher.status == "redeemed":
        raise VoucherError("used", "voucher was already redeemed")
    voucher.status = "cancelled"
    return voucher


def find_merchant(session: Session, *, merchant_id: str | None = None, name: str | None = None) -> Merchant | None:
    if merchant_id:
        return session.get(Merchant, merchant_id)
    if name:
        return session.scalar(select(Merchant).where(func.lower(Merchant.name) == name.strip().lower()))
    return None


def redemption_entry_id(voucher: Voucher) -> str:
    """`vch-<serial>`; a restored conformance fixture redeemed again is `vch-<serial>-<cycle>` (paid once per cycle)."""
    return f"vch-{voucher.serial_number}" + (f"-{voucher.cycle}" if voucher.cycle else "")


def redeem(session: Session, voucher: Voucher | None, merchant: Merchant | None, *, override: bool = False) -> Voucher:
    """Debits the group's programme funding account and credits the merchant; the voucher becomes redeemed.

    Claiming the voucher (activated -> redeemed) is a conditional UPDATE in the same transaction as the
    posting, and the entry id is `vch-<serial>` (`redemption_entry_id`): a voucher is paid out at most once, even
    under races.
    """
    if voucher is None or voucher.status != "activated":
        state = "unknown" if voucher is None else voucher.status
        raise VoucherError("invalid_voucher", f"invalid voucher ({state})")
    if is_expired(voucher):
        raise VoucherError("expired", "voucher has expired")
    if merchant is None or not merchant.active:
        raise VoucherError("merchant", "cannot credit merchant: unknown or inactive merchant")
    if not override and voucher.group_code not in merchant.voucher_groups.split(","):
        raise VoucherError("merchant", "cannot credit merchant: merchant does not accept this voucher group")
    group = session.get(VoucherGroup, voucher.group_code)
    funding = funding_account(session, group.programme_code, voucher.currency)
    if funding is None:
        raise VoucherError("funds", "insufficient funds in funding account")
    credit = ensure_account(
        session,
        merchant_code(merchant.id, voucher.currency),
        name=merchant.name,
        kind="merchant",
        currency=voucher.currency,
        owner=merchant.id,
    )
    entry_id = redemption_entry_id(voucher)
    claimed = session.execute(
        update(Voucher)
        .where(Voucher.serial_number == voucher.serial_number, Voucher.status == "activated")
        .values(status="redeemed", redeemed_at=utcnow(), merchant_id=merchant.id, entry_id=entry_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise VoucherError("invalid_voucher", "invalid voucher (already used)")
    try:
        with session.begin_nested():
            transfer(
                session,
                entry_id,
                "voucher_redemption",
                funding,
                credit,
                voucher.amount,
                f"voucher {voucher.serial_number} redeemed",
            )
    except InsufficientFunds as exc:
        raise VoucherError("funds", "insufficient funds in funding account") from exc
    except IntegrityError as exc:
        raise VoucherError("invalid_voucher", "invalid voucher (already used)") from exc
    session.refresh(voucher)
    return voucher


V1_STATUS = {
    "preactivated": "Pre-Activated",
    "activated": "Activated",
    "suspended": "Suspended",
    "blocked": "Blocked",
    "cancelled": "Purged",
}
# v3 VoucherStatus: "from 01 to 06, and 9 for error".
V3_STATUS = {
    "preactivated": 1,
    "activated": 2,
    "cancelled": 3,
    "redeemed": 4,
    "blocked": 5,
    "suspended": 5,
    "expired": 6,
}


def v3_status(voucher: Voucher) -> int:
    if voucher.status in ("preactivated", "activated") and is_expired(voucher):
        return V3_STATUS["expired"]
    return V3_STATUS[voucher.status]


def voucher_view(voucher: Voucher) -> dict:
    return {
        "serialNumber": voucher.serial_number,
        "group": voucher.group_code,
        "status": voucher.status,
        "currency": voucher.currency,
        "expiresAt": iso(voucher.expires_at),
    }


def new_id() -> str:
    return secrets.token_hex(6)
