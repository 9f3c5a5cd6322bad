"""Identity records: lookup by UIN or VID, creation and updates with history, VIDs, aliases."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.identities.models import Alias, Identity, IdentityChange, Vid
from services.identity.identities.numbers import generate_number
from services.identity.security import hash_pin

# The OIDC standard claims an identity may hold (spec: Identity-Provider.yaml userClaims).
CLAIM_NAMES = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "preferred_username",
    "nickname",
    "gender",
    "birthdate",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "picture",
    "address",
    "locale",
    "zoneinfo",
)


# UINs and generated VIDs are digits; a VID may also be alphanumeric with hyphens (the conformance fixtures'
# `n3fy2qkg9r7h2`, a UUID), so an individual id is looked up as long as it has that shape.
INDIVIDUAL_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def find_by_individual_id(session: Session, individual_id: str | None) -> Identity | None:
    """The active identity a UIN or an unrevoked VID points at."""
    if not isinstance(individual_id, str) or not INDIVIDUAL_ID.fullmatch(individual_id):
        return None
    vid = session.get(Vid, individual_id)
    if vid is not None:
        if vid.revoked_at is not None:
            return None
        identity = session.get(Identity, vid.identity_id)
    else:
        identity = session.scalar(select(Identity).where(Identity.uin == individual_id))
    return identity if identity is not None and identity.status == "active" else None


def email_key(email: Any) -> str | None:
    """The form under which an e-mail address is unique: trimmed, lower case."""
    if not isinstance(email, str):
        return None
    return email.strip().lower() or None


def email_owner(session: Session, email: Any) -> Identity | None:
    key = email_key(email)
    return session.scalar(select(Identity).where(Identity.email_key == key)) if key else None


def _unused(session: Session) -> str:
    while True:
        number = generate_number()
        taken = session.get(Vid, number) or session.scalar(select(Identity.id).where(Identity.uin == number))
        if not taken:
            return number


def create_identity(
    session: Session,
    attributes: dict[str, Any],
    *,
    source: str,
    actor: str | None = None,
    uin: str | None = None,
    vid: str | None = None,
    pin: str | None = None,
    pin_hash: str | None = None,
) -> tuple[Identity, str]:
    """A new identity with a fresh UIN and a first VID; returns the identity and its VID. `pin_hash`, a
    `hash_pin` result, stands for `pin` where one hash serves many identities (the seed's shared demo PIN)."""
    identity = Identity(
        uin=uin or _unused(session),
        attributes=dict(attributes),
        email_key=email_key(attributes.get("email")),
        pin_hash=pin_hash or (hash_pin(pin) if pin else None),
    )
    session.add(identity)
    session.flush()
    vid_number = vid or _unused(session)
    session.add(Vid(vid=vid_number, identity_id=identity.id))
    session.add(
        IdentityChange(
            identity_id=identity.id,
            action="created",
            source=source,
            actor=actor,
            changes={k: {"old": None, "new": v} for k, v in attributes.items()},
        )
    )
    return identity, vid_number


def update_identity(
    session: Session,
    identity: Identity,
    attributes: dict[str, Any],
    *,
    source: str,
    actor: str | None = None,
) -> dict[str, Any]:
    """Apply changed attributes only, recording old and new values; returns the changes."""
    current = dict(identity.attributes or {})
    changes = {k: {"old": current.get(k), "new": v} for k, v in attributes.items() if current.get(k) != v}
    if changes:
        current.update({k: c["new"] for k, c in changes.items()})
        identity.attributes = current
        identity.email_key = email_key(current.get("email"))
        identity.updated_at = utcnow()
        session.add(
            IdentityChange(identity_id=identity.id, action="updated", source=source, actor=actor, changes=changes)
        )
    return changes


def set_pin(session: Session, identity: Identity, pin: str, *, source: str, actor: str | None = None) -> None:
    identity.pin_hash = hash_pin(pin)
    session.add(IdentityChange(identity_id=identity.id, action="pin_set", source=source, actor=actor, changes={}))


def add_aliases(session: Session, identity: Identity, kind: str, values: list[str], *, source: str) -> None:
    known = {
        a.value for a in session.scalars(select(Alias).where(Alias.identity_id == identity.id, Alias.kind == kind))
    }
    new = [v for v in values if v and v not in known]
    for value in new:
        session.add(Alias(identity_id=identity.id, kind=kind, value=value))
    if new:
        session.add(
            IdentityChange(
                identity_id=identity.id,
                action="alias_added",
                source=source,
                changes={f"alias.{kind}": {"old": None, "new": new}},
            )
        )


def aliases(session: Session, identity: Identity, kind: str) -> list[str]:
    return list(session.scalars(select(Alias.value).where(Alias.identity_id == identity.id, Alias.kind == kind)))


def issue_vid(session: Session, identity: Identity, *, source: str, actor: str | None = None) -> str:
    number = _unused(session)
    session.add(Vid(vid=number, identity_id=identity.id))
    session.add(IdentityChange(identity_id=identity.id, action="vid_issued", source=source, actor=actor, changes={}))
    return number


def revoke_vid(session: Session, vid: Vid, *, source: str, actor: str | None = None) -> None:
    if vid.revoked_at is None:
        vid.revoked_at = utcnow()
        session.add(
            IdentityChange(identity_id=vid.identity_id, action="vid_revoked", source=source, actor=actor, changes={})
        )


def active_vids(session: Session, identity: Identity) -> list[str]:
    return list(session.scalars(select(Vid.vid).where(Vid.identity_id == identity.id, Vid.revoked_at.is_(None))))


def history(session: Session, identity: Identity) -> list[IdentityChange]:
    return list(
        session.scalars(
            select(IdentityChange).where(IdentityChange.identity_id == identity.id).order_by(IdentityChange.id)
        )
    )


def age_on(birthdate: str | None, today: date) -> int | None:
    try:
        born = date.fromisoformat(birthdate or "")
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
