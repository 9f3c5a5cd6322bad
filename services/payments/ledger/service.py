"""Ledger operations: accounts, balanced journal entries, balances guarded against overdraft.

Every money movement in the hub (G2P credits, voucher redemptions, later P2G bill payments: payer debited,
biller collection account credited) is one journal entry whose postings sum to zero per currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.clock import utcnow

from ..base import bulk_insert, plain
from .models import JournalEntry, LedgerAccount, Posting


class LedgerError(Exception):
    pass


class InsufficientFunds(LedgerError):
    pass


class UnbalancedEntry(LedgerError):
    pass


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: Decimal  # credit > 0, debit < 0
    currency: str


def get_account(session: Session, code: str) -> LedgerAccount | None:
    return session.scalar(select(LedgerAccount).where(LedgerAccount.code == code))


def ensure_account(
    session: Session,
    code: str,
    *,
    name: str,
    kind: str,
    currency: str,
    owner: str | None = None,
    allow_negative: bool = False,
) -> LedgerAccount:
    account = get_account(session, code)
    if account is None:
        account = LedgerAccount(
            code=code,
            name=name,
            kind=kind,
            currency=currency,
            owner=owner,
            allow_negative=allow_negative,
            balance=Decimal(0),
        )
        session.add(account)
        session.flush()
    return account


def check_balanced(legs: Iterable[Leg]) -> None:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        totals[leg.currency] += leg.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise UnbalancedEntry(f"postings do not balance: {unbalanced}")


def apply_balance_changes(session: Session, changes: Mapping[int, Decimal]) -> None:
    """Add each delta to its account; a debit that would overdraw a guarded account raises InsufficientFunds.

    The guard is part of the UPDATE itself, so concurrent debits (a batch settling while a voucher is
    redeemed) can never take an account below zero.
    """
    for account_id, delta in sorted(changes.items()):
        if delta == 0:
            continue
        stmt = update(LedgerAccount).where(LedgerAccount.id == account_id)
        if delta < 0:
            stmt = stmt.where((LedgerAccount.allow_negative.is_(True)) | (LedgerAccount.balance >= -delta))
        result = session.execute(
            stmt.values(balance=LedgerAccount.balance + delta).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise InsufficientFunds(f"account {account_id} cannot cover {-delta}")


def post_entry(session: Session, entry_id: str, kind: str, legs: list[Leg], description: str | None = None) -> None:
    """One balanced journal entry; raises InsufficientFunds (nothing written) if a debit is not covered."""
    post_entries(session, [(entry_id, kind, description, legs)])


def post_entries(session: Session, entries: list[tuple[str, str, str | None, list[Leg]]]) -> None:
    """Many balanced entries in bulk (executemany inserts, one balance update per account)."""
    if not entries:
        return
    now = utcnow()
    changes: dict[int, Decimal] = defaultdict(Decimal)
    entry_rows, posting_rows = [], []
    for entry_id, kind, description, legs in entries:
        check_balanced(legs)
        entry_rows.append({"id": entry_id, "kind": kind, "description": description, "created_at": now})
        for leg in legs:
            posting_rows.append(
                {"entry_id": entry_id, "account_id": leg.account_id, "amount": leg.amount, "currency": leg.currency}
            )
            changes[leg.account_id] += leg.amount
    apply_balance_changes(session, changes)
    bulk_insert(session, JournalEntry.__table__, entry_rows)
    bulk_insert(session, Posting.__table__, posting_rows)


def transfer(
    session: Session,
    entry_id: str,
    kind: str,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: Decimal,
    description: str | None = None,
) -> None:
    if debit.currency != credit.currency:
        raise LedgerError("transfer between accounts of different currencies")
    post_entry(
        session,
        entry_id,
        kind,
        [
            Leg(debit.id, -amount, debit.currency),
            Leg(credit.id, amount, credit.currency),
        ],
        description,
    )


def balance_from_postings(session: Session, account_id: int) -> Decimal:
    total = session.scalar(select(func.sum(Posting.amount)).where(Posting.account_id == account_id))
    return total if total is not None else Decimal(0)


def unbalanced_entries(session: Session) -> list[tuple[str, str]]:
    """Entries whose postings do not sum to zero in some currency (should always be empty)."""
    rows = session.execute(
        select(Posting.entry_id, Posting.currency)
        .group_by(Posting.entry_id, Posting.currency)
        .having(func.sum(Posting.amount) != 0)
    )
    return [(r[0], r[1]) for r in rows]


def account_view(account: LedgerAccount) -> dict:
    return {
        "accountCode": account.code,
        "name": account.name,
        "kind": account.kind,
        "currency": account.currency,
        "owner": account.owner,
        "balance": plain(account.balance),
    }
