"""Role assignments without the stack (the login and the administrator's API are tested end to end in
tests/usecases/*/test_roles.py): revocation reaches open sessions and twin assignments, the last active
administrator stays, the demo world is seeded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.clock import utcnow
from services.common.database import Database
from services.common.errors import APIError
from usecases.cash_transfer.auth import ROLES
from usecases.cash_transfer.models import RoleAssignment, UserSession
from usecases.common import roles

MIGRATIONS = Path(__file__).resolve().parents[2] / "usecases" / "cash_transfer" / "migrations"


@pytest.fixture
def session(db_fields):
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    db.migrate(MIGRATIONS)
    with db.session() as session:
        yield session
    db.dispose()


def _assignment(session, role: str, vid: str, sub: str | None) -> RoleAssignment:  # noqa: ANN001
    row = RoleAssignment(role=role, vid=vid, name="A B", name_key="a b", sub=sub, granted_by="test")
    session.add(row)
    session.flush()
    return row


def _open_session(session, sub: str, held: list[str]) -> UserSession:  # noqa: ANN001
    row = UserSession(token_hash=sub * 2, sub=sub, name="A B", roles=held, expires_at=utcnow())
    session.add(row)
    session.flush()
    return row


def test_revoking_takes_the_role_from_open_sessions_and_from_a_twin_assignment(session):
    first = _assignment(session, "payment_officer", "1111111111", "sub-1")
    twin = _assignment(session, "payment_officer", "1111111111", "sub-1")  # two concurrent grants
    _assignment(session, "administrator", "2222222222", "sub-2")
    open_session = _open_session(session, "sub-1", ["payment_officer", "beneficiary"])
    roles.revoke(session, ROLES, first.id, "admin")
    assert roles.status(first) == roles.status(twin) == "revoked"
    assert open_session.roles == ["beneficiary"]  # the link to a candidate is no assignment
    assert roles.revoke(session, ROLES, first.id, "someone else").revoked_by == "admin"  # idempotent


def test_the_last_active_administrator_stays(session):
    only = _assignment(session, "administrator", "2222222222", "sub-2")
    _assignment(session, "administrator", "3333333333", None)  # pending: may never log in
    with pytest.raises(APIError) as refused:
        roles.revoke(session, ROLES, only.id, "admin")
    assert refused.value.status_code == 409
    other = _assignment(session, "administrator", "4444444444", "sub-4")
    roles.revoke(session, ROLES, only.id, "admin")
    assert roles.status(only) == "revoked" and roles.status(other) == "active"


def test_the_demo_world_is_seeded_once_and_a_revoked_assignment_is_not_seeded_again(session):
    roles.seed(session, ROLES)
    session.flush()
    seeded = roles.listing(session, ROLES)
    assert {(r.role, roles.status(r)) for r in seeded} == {
        ("enrollment_officer", "pending"),
        ("payment_officer", "pending"),
        ("administrator", "pending"),
    }
    officer = next(r for r in seeded if r.role == "payment_officer")
    roles.revoke(session, ROLES, officer.id, "admin")
    roles.seed(session, ROLES)
    session.flush()
    assert len(roles.listing(session, ROLES)) == len(seeded)
