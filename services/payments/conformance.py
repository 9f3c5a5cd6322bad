"""The fixture records GovStack's Payments compliance checks assume (sandbox/conformance/payments.yaml).

`apply_fixtures` adds what is missing and restores every fixture voucher to its defined state, so it is both
the profile's first load and its re-seed after a run of the checks (they activate, redeem and cancel
vouchers). A redeemed fixture voucher is restored honestly: its ledger entry is reversed by a new entry and
the voucher's redemption cycle moves on, so its next redemption is a new entry (`vch-<serial>-<cycle>`) and
no entry is ever edited or posted twice. The default demo world never contains these records.

Command line (the conformance profile calls it; same settings and environment as the service):
    python -m services.payments.conformance [--data-dir DIR] [--fixtures FILE]
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.database import Database

from .ledger.models import Posting
from .ledger.service import Leg, post_entry
from .seed import seed_programmes, seed_voucher_setup
from .settings import PaymentsSettings
from .vouchers.models import Voucher
from .vouchers.service import random_digits, secret_hash

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "sandbox" / "conformance" / "payments.yaml"
MIGRATIONS = Path(__file__).with_name("migrations")
STATES = ("preactivated", "activated", "used", "expired")


def read_fixtures(path: Path = DEFAULT_FIXTURES) -> dict:
    return yaml.safe_load(path.read_text())


def apply_fixtures(session: Session, settings: PaymentsSettings, fixtures: dict) -> int:
    """Adds the missing fixture records and restores each fixture voucher; returns the number of vouchers."""
    seed_programmes(session, fixtures)
    seed_voucher_setup(session, fixtures)
    defaults = fixtures.get("voucher_defaults") or {}
    vouchers = fixtures.get("vouchers") or []
    for spec in vouchers:
        restore_voucher(session, settings, defaults | spec)
    session.flush()
    return len(vouchers)


def restore_voucher(session: Session, settings: PaymentsSettings, spec: dict) -> Voucher:
    """The voucher `spec` describes, created or put back in its state (a redemption reversed first)."""
    if spec["status"] not in STATES:
        raise ValueError(f"voucher {spec['serial']}: status must be one of {', '.join(STATES)}")
    voucher = session.get(Voucher, str(spec["serial"]))
    if voucher is None:
        voucher = Voucher(
            serial_number=str(spec["serial"]),
            secret_hash=secret_hash(settings, str(spec.get("number") or random_digits(16))),
            api="v1",
            request_id=f"conformance-{spec['serial']}",
            cycle=0,
        )
        session.add(voucher)
    else:
        reverse_redemption(session, voucher)
        if spec.get("number"):
            voucher.secret_hash = secret_hash(settings, str(spec["number"]))
    voucher.group_code, voucher.issuer = spec["group"], spec["issuer"]
    voucher.amount, voucher.currency = Decimal(str(spec["amount"])), spec["currency"]
    _set_state(voucher, spec["status"], settings.voucher_validity_days)
    return voucher


def reverse_redemption(session: Session, voucher: Voucher) -> None:
    """Undoes a redemption's money movement with a reversing entry; the next redemption is a new cycle."""
    if not voucher.entry_id:
        return
    postings = session.scalars(select(Posting).where(Posting.entry_id == voucher.entry_id)).all()
    legs = [Leg(p.account_id, -p.amount, p.currency) for p in postings]
    post_entry(session, f"restore-{voucher.entry_id}", "fixture_restore", legs, "conformance fixture restored")
    voucher.cycle = (voucher.cycle or 0) + 1
    voucher.entry_id = None


def _set_state(voucher: Voucher, state: str, validity_days: int) -> None:
    now = utcnow()
    voucher.status = {"used": "redeemed", "expired": "activated"}.get(state, state)
    voucher.activated_at = None if state == "preactivated" else now
    voucher.redeemed_at = now if state == "used" else None
    voucher.merchant_id = None
    voucher.issue_response = None
    voucher.expires_at = now - timedelta(days=1) if state == "expired" else now + timedelta(days=validity_days)


def reseed(settings: PaymentsSettings, fixtures_file: Path = DEFAULT_FIXTURES) -> int:
    """Loads (or restores) the fixtures in the service's database; safe while the service runs."""
    db = Database(*settings.resolved_database())
    try:
        db.migrate(MIGRATIONS)
        with db.session() as session:
            return apply_fixtures(session, settings, read_fixtures(fixtures_file))
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Load or restore the Payments conformance fixtures.")
    parser.add_argument("--data-dir", type=Path, help="the Payments service's data directory (PAYMENTS_DATA_DIR)")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="the fixture file")
    args = parser.parse_args(argv)
    settings = PaymentsSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    count = reseed(settings, args.fixtures)
    sys.stdout.write(f"Payments conformance fixtures loaded; {count} fixture vouchers restored.\n")


if __name__ == "__main__":
    main()
