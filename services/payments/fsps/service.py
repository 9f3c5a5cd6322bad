"""The simulated FSPs behind the hub: each accepts or rejects a credit by rule.

An address is an open account when it is listed as open, or when it matches the FSP's account pattern (a
mobile money operator's numbering plan) and is not listed as closed. Anything else is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from .models import FSP, FSPAccount

UNKNOWN_FSP = "payee institution is not connected to the hub"
UNKNOWN_ACCOUNT = "payee FSP rejected the credit: unknown account"
CLOSED_ACCOUNT = "payee FSP rejected the credit: account closed"


def normalize_address(address: str) -> str:
    return re.sub(r"[\s\-]", "", address or "")


@dataclass
class FSPDirectory:
    patterns: dict[str, re.Pattern | None]
    listed: dict[tuple[str, str], str]

    def credit_refusal(self, fsp_code: str | None, address: str | None) -> str | None:
        """None if the payee FSP accepts a credit to `address`, else the reason it refuses."""
        if fsp_code not in self.patterns:
            return UNKNOWN_FSP
        address = normalize_address(address or "")
        status = self.listed.get((fsp_code, address))
        if status == "open":
            return None
        if status == "closed":
            return CLOSED_ACCOUNT
        pattern = self.patterns[fsp_code]
        if pattern is not None and pattern.fullmatch(address):
            return None
        return UNKNOWN_ACCOUNT


def load_patterns(session: Session) -> dict[str, re.Pattern | None]:
    return {
        f.code: (re.compile(f.account_pattern) if f.account_pattern else None) for f in session.scalars(select(FSP))
    }


def load_directory(session: Session, pairs: Iterable[tuple[str, str]]) -> FSPDirectory:
    """The FSPs and the listed accounts among `pairs` (fsp code, address), fetched in chunks."""
    wanted = sorted({(f, normalize_address(a)) for f, a in pairs if f and a})
    listed: dict[tuple[str, str], str] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows = session.execute(
            select(FSPAccount.fsp_code, FSPAccount.financial_address, FSPAccount.status).where(
                tuple_(FSPAccount.fsp_code, FSPAccount.financial_address).in_(chunk)
            )
        )
        listed.update({(r[0], r[1]): r[2] for r in rows})
    return FSPDirectory(load_patterns(session), listed)


def load_directory_for(session: Session, instructions_query: Select[Any]) -> FSPDirectory:
    """Like `load_directory`, for the payees of a selection of instructions, in one joined query."""
    from sqlalchemy import func

    selected = instructions_query.subquery()
    normalized = func.replace(func.replace(selected.c.payee_address, " ", ""), "-", "")
    rows = session.execute(
        select(FSPAccount.fsp_code, FSPAccount.financial_address, FSPAccount.status).join(
            selected, (selected.c.payee_fsp == FSPAccount.fsp_code) & (normalized == FSPAccount.financial_address)
        )
    )
    return FSPDirectory(load_patterns(session), {(r[0], r[1]): r[2] for r in rows})


def fsp_view(fsp: FSP) -> dict:
    return {"institutionCode": fsp.code, "name": fsp.name, "kind": fsp.kind, "accountPattern": fsp.account_pattern}
