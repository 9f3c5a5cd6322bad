"""Bodies of the read-only ledger routes (sandbox extension)."""

from __future__ import annotations

from pydantic import BaseModel


class AccountView(BaseModel):
    accountCode: str
    name: str
    kind: str
    currency: str
    owner: str | None = None
    balance: float


class PostingView(BaseModel):
    entryId: str
    kind: str
    amount: float
    currency: str
    createdAt: str


class AccountWithPostings(AccountView):
    postings: list[PostingView]
