"""The alphanumeric knowledge factor (a password): enrolled and stored hashed like a PIN, checked for a PIN
challenge whose format is `alpha-numeric`, and counted toward the identity's lockout like every factor."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.identity.enrollment.models import Enrollment
from services.identity.identities.models import Identity, Vid
from tests.services.identity.helpers import ADMIN_TOKEN, client_key, new_client_id, register, wallet_attempt
from tests.services.identity.test_enrollment_verification import NEW_FIELDS, enrollment, unique_email

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PASSWORD = "Tamarind2031"


@pytest.fixture(scope="module")
def client_id(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    return client_id


def enroll(http, **fields) -> tuple[str, str]:  # noqa: ANN001
    enrollment_id = uuid.uuid4().hex
    body = enrollment(enrollment_id, {**NEW_FIELDS, "email": unique_email(), **fields})
    answer = http.put("/enrollment", headers=ADMIN, json=body)
    assert answer.status_code == 201, answer.text
    assert PASSWORD not in answer.text
    return enrollment_id, answer.json()["response"][0]["vid"]


def test_a_password_is_enrolled_hashed_and_never_kept_in_clear(live, http):
    enrollment_id, vid = enroll(http, password=PASSWORD)
    with live.app.state.db.session() as session:
        identity = session.get(Identity, session.get(Vid, vid).identity_id)
        stored = session.get(Enrollment, enrollment_id).fields
    assert identity.password_hash.startswith("scrypt$") and PASSWORD not in identity.password_hash
    assert "password" not in stored and PASSWORD not in str(stored)
    for wrong in ("short1", "with space 2031", "x" * 129, 12345678):
        refused = http.put(
            "/enrollment", headers=ADMIN, json=enrollment(uuid.uuid4().hex, {**NEW_FIELDS, "password": wrong})
        )
        assert refused.status_code == 400 and refused.json()["errors"][0]["errorCode"] == "invalid_field"


def test_the_password_answers_an_alphanumeric_pin_challenge_only(live, http, client_id):
    _, vid = enroll(http, password=PASSWORD, pin="4321")
    assert wallet_attempt(live.url, client_id, vid, "PIN", PASSWORD, "alpha-numeric")["errors"] == []
    assert wallet_attempt(live.url, client_id, vid, "PIN", "4321", "number")["errors"] == []
    assert (
        wallet_attempt(live.url, client_id, vid, "PIN", PASSWORD, "number")["errors"][0]["errorCode"] == "auth_failed"
    )
    assert (
        wallet_attempt(live.url, client_id, vid, "PIN", "4321", "alpha-numeric")["errors"][0]["errorCode"]
        == "auth_failed"
    )


def test_wrong_passwords_lock_the_identity(live, http, client_id):
    _, vid = enroll(http, password=PASSWORD)
    for _ in range(5):
        assert (
            wallet_attempt(live.url, client_id, vid, "PIN", "Guess0000", "alpha-numeric")["errors"][0]["errorCode"]
            == "auth_failed"
        )
    locked = wallet_attempt(live.url, client_id, vid, "PIN", PASSWORD, "alpha-numeric")["errors"][0]
    assert locked["errorCode"] == "auth_failed" and "locked" in locked["errorMessage"]
    with live.app.state.db.session() as session:
        identity = session.scalar(select(Identity).join(Vid, Vid.identity_id == Identity.id).where(Vid.vid == vid))
        assert identity.locked_until is not None
