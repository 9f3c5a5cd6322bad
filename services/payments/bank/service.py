"""The simulated payer bank (an FI linked to the hub for bill payments): customers, logins, payments.

Logins are signed cookies (HMAC with a key under the keys directory); forms carry a CSRF token that must
equal the `bank_csrf` cookie (double submit; both cookies are SameSite so another site cannot send them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from functools import cache
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.common.keys import load_or_create_secret

from ..fsps.service import normalize_address
from ..ledger.models import LedgerAccount
from .models import BankCustomer

ALIAS_MOBILE, ALIAS_VID, ALIAS_EMAIL = "00", "01", "02"


@cache
def _key(keys_dir: Path) -> bytes:
    return load_or_create_secret(keys_dir, "payments-bank-session.key").encode()


def _sign(keys_dir: Path, value: str) -> str:
    return hmac.new(_key(keys_dir), value.encode(), hashlib.sha256).hexdigest()


def session_cookie(keys_dir: Path, customer_id: int, hours: float) -> str:
    value = f"{customer_id}.{int(time.time() + hours * 3600)}"
    return f"{value}.{_sign(keys_dir, value)}"


def customer_id_from_cookie(keys_dir: Path, cookie: str | None) -> int | None:
    if not cookie or cookie.count(".") != 2:
        return None
    customer_id, expires, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _sign(keys_dir, f"{customer_id}.{expires}")):
        return None
    if not expires.isdigit() or int(expires) < time.time() or not customer_id.isdigit():
        return None
    return int(customer_id)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie, submitted)


def find_by_login(session: Session, login: str) -> BankCustomer | None:
    login = (login or "").strip()
    phone = normalize_address(login)
    return session.scalar(
        select(BankCustomer)
        .where(or_(BankCustomer.account_number == login.upper(), BankCustomer.phone == phone))
        .limit(1)
    )


def find_by_alias(session: Session, alias_type: str | None, alias_id: str | None) -> BankCustomer | None:
    alias_id = (alias_id or "").strip()
    if not alias_id:
        return None
    if alias_type == ALIAS_MOBILE:
        condition = BankCustomer.phone == normalize_address(alias_id)
    elif alias_type == ALIAS_VID:
        condition = BankCustomer.vid == alias_id
    elif alias_type == ALIAS_EMAIL:
        condition = func.lower(BankCustomer.email) == alias_id.lower()
    else:
        return None
    return session.scalar(select(BankCustomer).where(condition).limit(1))


def find_by_account(session: Session, account_number: str | None) -> BankCustomer | None:
    if not account_number:
        return None
    return session.scalar(select(BankCustomer).where(BankCustomer.account_number == account_number.strip().upper()))


def account_of(session: Session, customer: BankCustomer) -> LedgerAccount:
    return session.get(LedgerAccount, customer.ledger_account_id)


def new_reference(prefix: str, length: int = 12) -> str:
    """A random id of `length` characters (uppercase alphanumerics) after `prefix`."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length - len(prefix)))


def looks_like_bill_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9\-]{1,20}", value or ""))
