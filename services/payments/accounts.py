"""Ledger account codes of the hub's participants (one account per participant and currency)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .ledger.models import LedgerAccount
from .ledger.service import ensure_account, get_account


def funding_code(programme: str, currency: str) -> str:
    return f"FUND:{programme}:{currency}"


def fsp_code(fsp: str, currency: str) -> str:
    return f"FSP:{fsp}:{currency}"


def merchant_code(merchant: str, currency: str) -> str:
    return f"MERCHANT:{merchant}:{currency}"


def treasury_code(currency: str) -> str:
    return f"TREASURY:{currency}"


def funding_account(session: Session, programme: str, currency: str) -> LedgerAccount | None:
    return get_account(session, funding_code(programme, currency))


def fsp_settlement_account(session: Session, fsp: str, currency: str) -> LedgerAccount:
    return ensure_account(
        session,
        fsp_code(fsp, currency),
        name=f"Settlement account of {fsp}",
        kind="fsp_settlement",
        currency=currency,
        owner=fsp,
    )


def treasury_account(session: Session, currency: str) -> LedgerAccount:
    # The treasury is where programme budgets come from; it may go negative (it is the money's source).
    return ensure_account(
        session,
        treasury_code(currency),
        name=f"National Treasury ({currency})",
        kind="treasury",
        currency=currency,
        allow_negative=True,
    )


def customer_code(fsp: str, account_number: str, currency: str) -> str:
    return f"CUSTOMER:{fsp}:{account_number}:{currency}"


def collection_code(biller: str, currency: str) -> str:
    return f"COLLECTION:{biller}:{currency}"
