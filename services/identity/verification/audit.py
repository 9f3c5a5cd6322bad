"""Every yes/no question recorded (who asked what about whom), and a quota of distinct questions per
(relying party, person) in 24 hours: enough yes/no answers about one person rebuild the attribute
(e.g. a birth date from age and date comparisons), so one relying party may only ask so many."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.errors import IdentityError
from services.identity.identities.models import Identity
from services.identity.security import Secrets
from services.identity.verification.models import VerificationQuestion

log = logging.getLogger(__name__)
QUOTA_WINDOW = timedelta(hours=24)
_Q = VerificationQuestion


class QuotaExceeded(IdentityError):
    def __init__(self, quota: int, retry_after: int):
        message = f"quota reached: at most {quota} distinct questions about one person in 24 hours per relying party"
        super().__init__("quota_exceeded", message, 429, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def admit(
    session: Session,
    secrets_: Secrets,
    quota: int,
    caller: str,
    identity: Identity | None,
    request_id: str,
    questions: list[tuple[str, str]],
) -> None:
    """Record the questions `(predicate, canonical value)`; if they take the caller past its quota of distinct
    questions about this person, they are recorded as refused and `QuotaExceeded` is raised (the caller
    commits the record all the same)."""
    now = utcnow()
    identity_id = identity.id if identity is not None else None
    if identity_id is not None:
        # PostgreSQL: one question batch per person at a time, so that two cannot both pass the count below.
        # SQLite ignores FOR UPDATE; there the flush's BEGIN IMMEDIATE serializes the batches instead.
        session.execute(select(Identity.id).where(Identity.id == identity_id).with_for_update())
    rows = [
        _Q(
            caller=caller,
            identity_id=identity_id,
            request_id=request_id,
            predicate=kind,
            question_hash=secrets_.keyed_hash("question", kind, value),
            asked_at=now,
            refused=False,
        )
        for kind, value in questions
    ]
    session.add_all(rows)
    session.flush()
    if identity_id is None:
        return  # an unknown person: every answer is "no", there is nothing to learn
    if _distinct_asked(session, caller, identity_id, now) <= quota:
        return
    for row in rows:
        row.refused = True
    log.warning("verification quota reached: caller %s, identity #%s", caller, identity_id)
    raise QuotaExceeded(quota, _retry_after(session, caller, identity_id, now))


def _counted(caller: str, identity_id: int, now: datetime) -> list:
    return [_Q.caller == caller, _Q.identity_id == identity_id, _Q.refused.is_(False), _Q.asked_at > now - QUOTA_WINDOW]


def _distinct_asked(session: Session, caller: str, identity_id: int, now: datetime) -> int:
    return session.scalar(select(func.count(distinct(_Q.question_hash))).where(*_counted(caller, identity_id, now)))


def _retry_after(session: Session, caller: str, identity_id: int, now: datetime) -> int:
    oldest = session.scalar(select(func.min(_Q.asked_at)).where(*_counted(caller, identity_id, now)))
    return max(math.ceil(((oldest or now) + QUOTA_WINDOW - now).total_seconds()), 1)


def usage(session: Session, identity: Identity) -> dict[str, int]:
    """Distinct questions counted against each relying party's quota for this person now."""
    now = utcnow()
    rows = session.execute(
        select(_Q.caller, func.count(distinct(_Q.question_hash)))
        .where(_Q.identity_id == identity.id, _Q.refused.is_(False), _Q.asked_at > now - QUOTA_WINDOW)
        .group_by(_Q.caller)
    )
    return {caller: count for caller, count in rows}


def trail(session: Session, identity: Identity, caller: str | None = None, limit: int = 1000) -> list[_Q]:
    """The questions asked about this person, newest first."""
    query = select(_Q).where(_Q.identity_id == identity.id)
    if caller:
        query = query.where(_Q.caller == caller)
    return list(session.scalars(query.order_by(_Q.id.desc()).limit(limit)))
