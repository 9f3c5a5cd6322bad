"""Authentication factors a resident (or the administrator) has blocked: a blocked factor is refused at login."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.common.clock import as_utc, iso, utcnow
from services.identity.identities.models import Identity, IdentityChange

FACTORS = ("OTP", "PIN", "WLA")  # one-time code, PIN or password, wallet
FACTOR_NAMES = {"OTP": "one-time code", "PIN": "PIN", "WLA": "wallet"}


def blocked(identity: Identity) -> dict[str, str | None]:
    """The factors blocked now: factor -> until (ISO) or None for "until unblocked"."""
    now = utcnow()
    return {
        factor: until
        for factor, until in (identity.blocked_factors or {}).items()
        if until is None or as_utc(datetime.fromisoformat(until.replace("Z", "+00:00"))) > now
    }


def is_blocked(identity: Identity, factor: str) -> bool:
    return factor in blocked(identity)


def set_blocked(
    session: Session,
    identity: Identity,
    factors: list[str],
    *,
    block: bool,
    until: datetime | None,
    actor: str,
) -> dict[str, str | None]:
    """Block (until a time, or for good) or unblock factors; recorded in the identity's history."""
    before = blocked(identity)
    after = dict(before)
    for factor in factors:
        if block:
            after[factor] = iso(until, "milliseconds") if until else None
        else:
            after.pop(factor, None)
    identity.blocked_factors = after
    session.add(
        IdentityChange(
            identity_id=identity.id,
            action="factors_blocked" if block else "factors_unblocked",
            source="credential-management",
            actor=actor,
            changes={"blocked_factors": {"old": before, "new": after}},
        )
    )
    return after
