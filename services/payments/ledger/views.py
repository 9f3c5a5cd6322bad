"""Read-only ledger views (not part of the GovStack API): balances and an account's postings."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.clock import iso

from ..base import plain
from ..envelopes import answers
from .models import JournalEntry, LedgerAccount, Posting
from .schemas import AccountView, AccountWithPostings
from .service import account_view, get_account

router = APIRouter(prefix="/ledger", tags=["Ledger (sandbox)"])


@router.get("/accounts", summary="All ledger accounts with their balances", **answers(list[AccountView]))
def list_accounts(session: Session = DBSession) -> list[dict]:
    return [account_view(a) for a in session.scalars(select(LedgerAccount).order_by(LedgerAccount.code))]


@router.get("/accounts/{code}", summary="One ledger account and its latest postings", **answers(AccountWithPostings))
def show_account(code: str, limit: int = 50, session: Session = DBSession) -> dict:
    account = get_account(session, code)
    if account is None:
        raise HTTPException(404, "no such ledger account")
    rows = session.execute(
        select(Posting, JournalEntry)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.account_id == account.id)
        .order_by(Posting.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    postings = [
        {
            "entryId": e.id,
            "kind": e.kind,
            "amount": plain(p.amount),
            "currency": p.currency,
            "createdAt": iso(e.created_at),
        }
        for p, e in rows
    ]
    return {**account_view(account), "postings": postings}
