"""Role assignments: who holds which role in a use case, kept in the use case's own database.

An assignment names a resident by VID (what an administrator or the demo world knows) and is bound to the
stable pairwise `sub` the Identity BB issues to this use case's OIDC client (what a login proves). It is
*pending* until that person's first login: the login's verified `name` narrows the pending assignments to a
few candidates, and Identity's yes/no `subject_matches` predicate confirms that the VID's person is the one
logging in. The name alone never grants anything; e-mail is never used. A revoked assignment is kept (who
revoked it and when) and takes the role from the person's open sessions at once."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.common import demo_world
from services.common.clock import utcnow
from services.common.database import UTCDateTime
from services.common.errors import APIError
from services.common.im_client import IMClient

from . import bb
from .settings import UseCaseSettings

log = logging.getLogger(__name__)
ADMINISTRATOR = "administrator"
MAX_BINDING_QUESTIONS = 3  # distinct VIDs asked about at one login (namesakes are rare)
DEMO_WORLD = "demo world"


class RoleAssignmentColumns:
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(40))
    vid: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))  # as the administrator gave it (Identity confirmed it)
    name_key: Mapped[str] = mapped_column(String(200), index=True)  # `name_key(name)`: narrows a login's questions
    # the pairwise subject at our OIDC client, once Identity confirmed it is the VID's person (None: pending)
    sub: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def name_key(name: str) -> str:
    """Case, accents, hyphens and spacing do not matter (Identity's `name_matches` ignores them too)."""
    letters = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(letters.replace("-", " ").casefold().split())


def status(row: RoleAssignmentColumns) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "active" if row.sub else "pending"


def view(row: RoleAssignmentColumns) -> dict:
    """What the administrator sees; the pairwise subject stays inside."""
    return {
        "id": row.id,
        "role": row.role,
        "vid": row.vid,
        "name": row.name,
        "status": status(row),
        "grantedBy": row.granted_by,
        "grantedAt": row.granted_at.isoformat() if row.granted_at else None,
        "boundAt": row.bound_at.isoformat() if row.bound_at else None,
        "revokedBy": row.revoked_by,
        "revokedAt": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def ordered(roles: set[str], order: tuple[str, ...]) -> list[str]:
    """The use case's order (the first role decides a user's home page); unknown roles last."""
    return sorted(roles, key=lambda r: (order.index(r) if r in order else len(order), r))


@dataclass(frozen=True)
class RoleTables:
    """A use case's tables and the roles its administrator may assign."""

    assignments: type  # its RoleAssignmentColumns table
    sessions: type  # its UserSessionColumns table
    assignable: tuple[str, ...]  # in order: the first role a user holds decides their home page
    invalid_status: int = 400  # the use case's status for bad input (the permit answers 422)


def roles_of(session: Session, tables: RoleTables, sub: str) -> set[str]:
    model = tables.assignments
    return set(session.scalars(select(model.role).where(model.sub == sub, model.revoked_at.is_(None))))


# Login ------------------------------------------------------------------------------------------------------


def bind_pending(
    session: Session, im: IMClient, settings: UseCaseSettings, tables: RoleTables, sub: str, name: str
) -> list[RoleAssignmentColumns]:
    """Binds the pending assignments of the person logging in: those with their verified name, confirmed by
    Identity VID by VID. Returns the rows bound now (not yet flushed). A question Identity does not answer
    leaves its assignments pending until the next login."""
    model = tables.assignments
    pending = session.scalars(
        select(model)
        .where(model.sub.is_(None), model.revoked_at.is_(None), model.name_key == name_key(name))
        .order_by(model.id)
    ).all()
    bound = []
    for vid in list(dict.fromkeys(row.vid for row in pending))[:MAX_BINDING_QUESTIONS]:
        try:
            confirmed = bb.subject_matches(im, settings, vid, sub)
        except APIError:
            log.warning("Identity did not answer; a pending role assignment stays pending")
            continue
        for row in (r for r in pending if confirmed and r.vid == vid):
            row.sub, row.bound_at = sub, utcnow()
            bound.append(row)
    return bound


def roles_at_login(
    session: Session, im: IMClient, settings: UseCaseSettings, tables: RoleTables, claims: dict
) -> list[str]:
    """The roles of a verified login: its bound assignments and the pending ones Identity confirms now."""
    sub = claims["sub"]
    bound = bind_pending(session, im, settings, tables, sub, str(claims.get("name") or ""))
    return ordered(roles_of(session, tables, sub) | {row.role for row in bound}, tables.assignable)


# Administration ---------------------------------------------------------------------------------------------


def refused(status_code: int, error: str, message: str) -> APIError:
    return APIError(status_code, {"error": error, "message": message})


def _in_force(session: Session, model: type, vid: str, role: str) -> RoleAssignmentColumns | None:
    return session.scalars(
        select(model).where(model.vid == vid, model.role == role, model.revoked_at.is_(None)).order_by(model.id)
    ).first()


def _known_subject(session: Session, model: type, vid: str) -> str | None:
    """The pairwise subject Identity already confirmed for this VID (on any assignment, revoked ones too)."""
    return session.scalars(select(model.sub).where(model.vid == vid, model.sub.is_not(None))).first()


def _valid(tables: RoleTables, vid: str, name: str, role: str) -> None:
    status_code = tables.invalid_status
    if role not in tables.assignable:
        raise refused(status_code, "invalid_request", f"role must be one of {list(tables.assignable)}")
    if not vid.isdigit() or not 6 <= len(vid) <= 20:
        raise refused(status_code, "invalid_request", "vid must be 6 to 20 digits")
    if not name_key(name) or len(name) > 200:
        raise refused(status_code, "invalid_request", "name is required (at most 200 characters), as on the ID")


def grant(
    session: Session,
    im: IMClient,
    settings: UseCaseSettings,
    tables: RoleTables,
    vid: str,
    name: str,
    role: str,
    actor: str,
) -> RoleAssignmentColumns:
    """The assignment in force for (vid, role), pending until that person logs in (bound at once when Identity
    already confirmed this VID's subject). Identity must confirm the VID with the name. A repeated grant
    returns the first."""
    model, vid, name, role = tables.assignments, vid.strip(), name.strip(), role.strip()
    _valid(tables, vid, name, role)
    existing = _in_force(session, model, vid, role)
    if existing is not None:
        return existing
    checks = [{"type": "exists", "value": True}, {"type": "name_matches", "value": name}]
    if (bb.verify_person(im, settings, vid, checks)) != [True, True]:
        raise refused(
            tables.invalid_status, "identity_not_confirmed", "Identity does not confirm this VID with this name"
        )
    sub = _known_subject(session, model, vid)
    row = model(role=role, vid=vid, name=name, name_key=name_key(name), sub=sub, granted_by=actor)
    row.bound_at = utcnow() if sub else None
    session.add(row)
    session.flush()  # no building-block call follows; the answer needs the id
    if sub:
        refresh_sessions(session, tables, sub)
    session.commit()
    return row


def revoke(session: Session, tables: RoleTables, assignment_id: int, actor: str) -> RoleAssignmentColumns:
    """Revokes the role of the assignment's VID (with any twin a concurrent grant made); a repeated revocation
    answers the first. The last active administrator stays."""
    model = tables.assignments
    row = session.get(model, assignment_id)
    if row is None:
        raise refused(404, "not_found", "no such role assignment")
    if row.revoked_at is not None:
        return row
    twins = session.scalars(
        select(model).where(model.vid == row.vid, model.role == row.role, model.revoked_at.is_(None))
    ).all()
    if row.role == ADMINISTRATOR and row.sub and not _another_active_administrator(session, tables, twins):
        raise refused(409, "last_administrator", "the last active administrator cannot be revoked")
    for twin in twins:
        twin.revoked_at, twin.revoked_by = utcnow(), actor
    session.flush()
    for sub in {twin.sub for twin in twins if twin.sub}:
        refresh_sessions(session, tables, sub)
    session.commit()
    return row


def _another_active_administrator(session: Session, tables: RoleTables, leaving: list[RoleAssignmentColumns]) -> bool:
    model = tables.assignments
    others = select(func.count()).where(
        model.role == ADMINISTRATOR,
        model.sub.is_not(None),
        model.revoked_at.is_(None),
        model.id.not_in([row.id for row in leaving]),
    )
    return bool(session.scalar(others))


def refresh_sessions(session: Session, tables: RoleTables, sub: str) -> None:
    """The person's open sessions get their assigned roles now; roles that come from elsewhere (a beneficiary's
    link to a candidate) stay."""
    assigned = roles_of(session, tables, sub)
    for open_session in session.scalars(select(tables.sessions).where(tables.sessions.sub == sub)):
        kept = {r for r in open_session.roles if r not in tables.assignable}
        open_session.roles = ordered(kept | assigned, tables.assignable)


def listing(session: Session, tables: RoleTables) -> list[RoleAssignmentColumns]:
    """Assignments in force first, then by role and name."""
    model = tables.assignments
    in_force_first = model.revoked_at.is_not(None)
    return list(session.scalars(select(model).order_by(in_force_first, model.role, model.name, model.id)))


def seed(session: Session, tables: RoleTables) -> None:
    """The demo world's holders of the assignable roles, pending until their first login. A VID and role that
    ever had an assignment (a revoked one too) get none again."""
    model = tables.assignments
    known = set(session.execute(select(model.vid, model.role)).tuples())
    for role in tables.assignable:
        for resident in demo_world.with_role(role):
            if (resident["vid"], role) not in known:
                session.add(
                    model(
                        role=role,
                        vid=resident["vid"],
                        name=resident["name"],
                        name_key=name_key(resident["name"]),
                        granted_by=DEMO_WORLD,
                    )
                )
