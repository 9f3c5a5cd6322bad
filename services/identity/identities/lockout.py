"""Failed authentications counted per identity, across logins and factors, with an exponential lockout.

An attempt is counted as failed *before* its factor is checked (`begin_attempt`) and forgiven once the factor
holds (`succeeded`). The counting UPDATE locks the identity's row (PostgreSQL) or the database (SQLite's
BEGIN IMMEDIATE) until the outcome is committed, so concurrent guesses queue behind each other and each one
sees the count the previous one left: a burst of parallel guesses cannot slip past the threshold. `failed` and
`succeeded` commit the request's session at once, so that the lock lasts the factor check only, not the rest of
the request (rendering the next page, say).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.identity.identities.models import Identity, IdentityChange
from services.identity.settings import IdentitySettings

log = logging.getLogger(__name__)


class IdentityLocked(Exception):
    def __init__(self, until: datetime):
        super().__init__(f"identity locked until {iso(until, 'milliseconds')}")
        self.until = until

    @property
    def message(self) -> str:
        return (
            "this identity is locked after too many failed authentications; "
            f"try again after {iso(self.until, 'milliseconds')} or ask the identity authority to unlock it"
        )


def locked_until(identity: Identity) -> datetime | None:
    until = identity.locked_until
    return until if until is not None and until > utcnow() else None


def refuse_if_locked(identity: Identity) -> None:
    until = locked_until(identity)
    if until is not None:
        raise IdentityLocked(until)


def begin_attempt(session: Session, identity: Identity) -> None:
    """Count one attempt as failed before its factor is checked; refuse it while the identity is locked."""
    now = utcnow()
    counted = session.execute(
        update(Identity)
        .where(Identity.id == identity.id, or_(Identity.locked_until.is_(None), Identity.locked_until <= now))
        .values(auth_failures=Identity.auth_failures + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(identity, ["auth_failures", "auth_lockouts", "locked_until"])
    if counted.rowcount == 0:
        raise IdentityLocked(identity.locked_until or now)


def failed(session: Session, settings: IdentitySettings, identity: Identity) -> None:
    """The counted attempt failed: lock the identity once the failures reach the threshold."""
    if identity.auth_failures < settings.lockout_threshold:
        session.commit()
        return
    identity.auth_lockouts += 1
    period = lockout_seconds(settings, identity.auth_lockouts)
    identity.locked_until = utcnow() + timedelta(seconds=period)
    identity.auth_failures = 0
    session.add(
        IdentityChange(
            identity_id=identity.id,
            action="locked",
            source="authentication",
            changes={"locked_until": {"old": None, "new": iso(identity.locked_until, "milliseconds")}},
            note=f"lockout {identity.auth_lockouts} for {period} s after {settings.lockout_threshold} failures",
        )
    )
    session.commit()
    log.warning("identity #%s locked for %s s after failed authentications", identity.id, period)


def lockout_seconds(settings: IdentitySettings, lockouts: int) -> int:
    doublings = min(max(lockouts - 1, 0), 32)
    return min(settings.lockout_base_seconds * 2**doublings, settings.lockout_max_seconds)


def succeeded(session: Session, identity: Identity) -> None:
    _clear(identity)
    session.commit()


def _clear(identity: Identity) -> None:
    identity.auth_failures = 0
    identity.auth_lockouts = 0
    identity.locked_until = None


def unlock(session: Session, identity: Identity, *, actor: str) -> dict:
    """The operator's unlock: clears the lock and the counters, recorded in the identity's history."""
    before = {
        "auth_failures": identity.auth_failures,
        "auth_lockouts": identity.auth_lockouts,
        "locked_until": iso(identity.locked_until, "milliseconds") if identity.locked_until else None,
    }
    _clear(identity)
    after = {"auth_failures": 0, "auth_lockouts": 0, "locked_until": None}
    session.add(
        IdentityChange(
            identity_id=identity.id,
            action="unlocked",
            source="admin",
            actor=actor,
            changes={name: {"old": before[name], "new": after[name]} for name in before},
        )
    )
    return before
