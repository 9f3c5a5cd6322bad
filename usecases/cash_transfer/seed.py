"""Seeds the registry from the demo world: every resident with the `candidate` role, two packages, and the
officers' and administrator's role assignments (pending until their first login)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import demo_world
from usecases.common import roles

from .auth import ROLES
from .models import Candidate, Package
from .settings import CashTransferSettings

PACKAGES = [
    ("pkg-basic", "Basic support", "Monthly unconditional cash transfer for a household", 15000, "USD"),
    ("pkg-family", "Family support", "Monthly transfer for households with children", 25000, "USD"),
]


def seed(session: Session, settings: CashTransferSettings) -> None:
    known = set(session.scalars(select(Candidate.uin)))
    for r in demo_world.with_role("candidate"):
        if r["uin"] not in known:
            session.add(
                Candidate(
                    uin=r["uin"],
                    name=r["name"],
                    email=r["email"].lower(),
                    phone=r["phone_number"],
                    locality=r["address"]["locality"],
                )
            )
    roles.seed(session, ROLES)
    for pid, name, description, minor, currency in PACKAGES:
        if session.get(Package, pid) is None:
            session.add(Package(id=pid, name=name, description=description, amount_minor=minor, currency=currency))
