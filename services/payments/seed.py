"""Idempotent seed: simulated FSPs with the demo residents' accounts, programmes with funded accounts,
voucher groups and merchants (from `seed.yaml`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import demo_world

from .accounts import collection_code, customer_code, funding_code, merchant_code, treasury_account
from .bank.models import BankCustomer
from .fsps.models import FSP, FSPAccount
from .fsps.service import normalize_address
from .g2p.models import Programme
from .ledger.models import JournalEntry
from .ledger.service import ensure_account, transfer
from .p2g.models import Biller
from .settings import PaymentsSettings
from .vouchers.models import Merchant, VoucherGroup, VoucherIssuer


def load_seed(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def resident_accounts(config: dict) -> list[dict]:
    """Each demo resident's account: deterministic FSP and address, a few closed; `functional_id` is the id a
    registry names the resident by in the mapper (20 characters, demo_world.yaml)."""
    fsps = config["fsps"]
    closed = set(config.get("closed_accounts_for_uins", []))
    out = []
    for index, resident in enumerate(demo_world.residents()):
        fsp = fsps[index % len(fsps)]
        if fsp["kind"] == "mobile_money":
            address, modality = normalize_address(resident["phone_number"]), "01"
        else:
            address, modality = f"{fsp['account_prefix']}{resident['uin']}", "00"
        out.append(
            {
                "uin": resident["uin"],
                "functional_id": resident["functional_id"],
                "fsp": fsp["code"],
                "address": address,
                "modality": modality,
                "holder": resident["name"],
                "status": "closed" if resident["uin"] in closed else "open",
            }
        )
    return out


def seed(session: Session, settings: PaymentsSettings) -> None:
    config = load_seed(settings.seed_file)
    _seed_fsps(session, config)
    seed_programmes(session, config)
    seed_voucher_setup(session, config)
    _seed_billers(session, config)
    _seed_bank(session, config)


def _seed_fsps(session: Session, config: dict) -> None:
    for f in config["fsps"]:
        if session.get(FSP, f["code"]) is None:
            session.add(FSP(code=f["code"], name=f["name"], kind=f["kind"], account_pattern=f.get("account_pattern")))
    session.flush()
    existing = {(a.fsp_code, a.financial_address) for a in session.scalars(select(FSPAccount))}
    for acc in resident_accounts(config):
        if (acc["fsp"], acc["address"]) not in existing:
            session.add(
                FSPAccount(
                    fsp_code=acc["fsp"], financial_address=acc["address"], holder=acc["holder"], status=acc["status"]
                )
            )
    for m in config.get("merchants", []):
        fsp, _, address = (m.get("bank_details") or "").partition(" ")
        if fsp and address and (fsp, address) not in existing and session.get(FSP, fsp) is not None:
            session.add(FSPAccount(fsp_code=fsp, financial_address=address, holder=m["name"], status="open"))
    session.flush()


def seed_programmes(session: Session, config: dict) -> None:
    """Programmes of `config` (owner re-applied), each funded once from the treasury."""
    for p in config["programmes"]:
        programme = session.get(Programme, p["code"])
        if programme is None:
            programme = Programme(
                code=p["code"],
                name=p["name"],
                source_bb_ids=",".join(p.get("source_bb_ids", [])),
                is_default=bool(p.get("default")),
            )
            session.add(programme)
        programme.owner_client = p.get("owner")  # the configuration decides, also for programmes seeded before
        session.flush()
        for currency, opening in (p.get("funding") or {}).items():
            account = ensure_account(
                session,
                funding_code(p["code"], currency),
                name=f"{p['name']} ({currency})",
                kind="funding",
                currency=currency,
                owner=p["code"],
            )
            entry_id = f"seed-funding-{p['code']}-{currency}"
            if session.get(JournalEntry, entry_id) is None:
                transfer(
                    session,
                    entry_id,
                    "funding",
                    treasury_account(session, currency),
                    account,
                    Decimal(str(opening)),
                    "opening budget allocation",
                )


def seed_voucher_setup(session: Session, config: dict) -> None:
    """Voucher issuers, groups and merchants of `config` that do not exist yet (merchants hold `currency`)."""
    known = set(session.scalars(select(VoucherIssuer.code)))
    session.add_all(VoucherIssuer(code=str(code)) for code in config.get("voucher_issuers", []) if code not in known)
    for g in config.get("voucher_groups", []):
        if session.get(VoucherGroup, g["code"]) is None:
            session.add(
                VoucherGroup(
                    code=g["code"],
                    name=g["name"],
                    currency=g["currency"],
                    programme_code=g["programme"],
                    max_vouchers=g.get("max_vouchers"),
                    max_amount=Decimal(str(g["max_amount"])) if g.get("max_amount") else None,
                )
            )
    session.flush()
    currency = config["currency"]
    for m in config.get("merchants", []):
        if session.get(Merchant, m["id"]) is None:
            account = ensure_account(
                session,
                merchant_code(m["id"], currency),
                name=m["name"],
                kind="merchant",
                currency=currency,
                owner=m["id"],
            )
            session.add(
                Merchant(
                    id=m["id"],
                    name=m["name"],
                    bank_details=m.get("bank_details"),
                    voucher_groups=",".join(m.get("groups", [])),
                    ledger_account_id=account.id,
                    active=m.get("active", True),
                )
            )
    session.flush()


def _seed_billers(session: Session, config: dict) -> None:
    currency = config["currency"]
    for b in config.get("billers", []):
        if session.get(Biller, b["id"]) is None:
            account = ensure_account(
                session,
                collection_code(b["id"], currency),
                name=f"Collections of {b['name']}",
                kind="collection",
                currency=currency,
                owner=b["id"],
            )
            session.add(
                Biller(
                    id=b["id"],
                    name=b["name"],
                    bill_prefix=b["bill_prefix"],
                    im_service=b["im_service"],
                    collection_account_id=account.id,
                )
            )
    session.flush()


def _seed_bank(session: Session, config: dict) -> None:
    bank = config.get("payer_bank")
    if not bank:
        return
    currency = config["currency"]
    balances = bank.get("balances_for_uins") or {}
    existing = set(session.scalars(select(BankCustomer.account_number)))
    for resident in demo_world.residents():
        number = f"{bank['account_prefix']}{resident['uin']}"
        if number in existing:
            continue
        code = customer_code(bank["fsp"], number, currency)
        account = ensure_account(
            session,
            code,
            name=f"Current account of {resident['name']}",
            kind="customer",
            currency=currency,
            owner=bank["fsp"],
        )
        session.add(
            BankCustomer(
                account_number=number,
                name=resident["name"],
                phone=normalize_address(resident["phone_number"]),
                vid=resident["vid"],
                email=resident.get("email"),
                ledger_account_id=account.id,
            )
        )
        opening = Decimal(str(balances.get(resident["uin"], bank["opening_balance"])))
        transfer(
            session,
            f"seed-bank-{number}",
            "deposit",
            treasury_account(session, currency),
            account,
            opening,
            "opening deposit",
        )
    session.flush()
