"""Seed every demo resident (ARCHITECTURE §6) as an identity, once; reseeding changes nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common import demo_world
from services.identity.identities.models import Identity
from services.identity.identities.service import CLAIM_NAMES, create_identity
from services.identity.security import hash_pin
from services.identity.settings import IdentitySettings


def resident_attributes(resident: dict) -> dict:
    attributes = {k: resident[k] for k in CLAIM_NAMES if k in resident}
    attributes.setdefault("email_verified", bool(resident.get("email")))
    attributes.setdefault("phone_number_verified", bool(resident.get("phone_number")))
    return attributes


def seed_residents(session: Session, settings: IdentitySettings) -> None:
    existing = set(session.scalars(select(Identity.uin)))
    missing = [resident for resident in demo_world.residents() if resident["uin"] not in existing]
    # Every demo resident has the same, published demo PIN: one scrypt hash (~10 ms of CPU) serves them all,
    # instead of one per resident on the first start.
    pin_hash = hash_pin(settings.demo_pin) if missing and settings.demo_pin else None
    for resident in missing:
        create_identity(
            session,
            resident_attributes(resident),
            source="seed",
            uin=resident["uin"],
            vid=resident["vid"],
            pin_hash=pin_hash,
        )
