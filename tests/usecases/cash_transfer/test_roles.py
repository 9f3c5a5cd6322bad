"""Roles and links by stable identifiers (issue 17, finding 2): officers come from role assignments bound to
the pairwise `sub` the Identity BB gives this use case, beneficiaries are linked by `subject_matches` on the
candidate's UIN, and the administrator manages the assignments. E-mail never grants or links anything."""

from __future__ import annotations

import re

import httpx
import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, PAYMENT_OFFICER_VID, login
from services.common import demo_world
from tests.usecases import hardening
from tests.usecases.residents import change_email, enroll, unique_email

pytestmark = pytest.mark.e2e
OTP = demo_world.sandbox_otp()
ADMIN = demo_world.with_role("administrator")[0]
AMINA = next(r for r in demo_world.residents() if r["vid"] == PAYMENT_OFFICER_VID)
ADMIN_API = "/api/v1/admin/role-assignments"


def _person(name: str) -> dict:
    return next(r for r in demo_world.residents() if r["name"] == name)


@pytest.fixture(scope="module")
def base(stack):
    return stack.url("cash_transfer")


@pytest.fixture(scope="module")
def admin(base):
    return login(base, ADMIN["vid"], OTP)


@pytest.fixture(scope="module")
def officer(base):
    return login(base, ENROLLMENT_OFFICER_VID, OTP)


def _roles(client: httpx.Client) -> dict:
    return client.get("/api/v1/roles").json()


def test_taking_the_payment_officers_email_address_grants_no_role(stack, base):
    """The reported attack: an enrollment office changes a resident's e-mail to the payment officer's."""
    change_email(stack, AMINA["vid"], unique_email("amina"))  # Identity keeps addresses unique
    mallory = enroll(stack, "Mallory Quist", email=AMINA["email"])
    assert _roles(login(base, mallory, OTP))["roles"] == []
    assert _roles(login(base, PAYMENT_OFFICER_VID, OTP))["roles"] == ["payment_officer"]  # she keeps hers


def test_a_beneficiary_is_not_linked_by_email(stack, base):
    victim = _person("Tomas Alvarez")
    change_email(stack, victim["vid"], unique_email("tomas"))
    mallory = login(base, enroll(stack, "Mallory Rook", email=victim["email"]), OTP)
    assert _roles(mallory) | {"name": None} == {
        "authenticated": True,
        "name": None,
        "roles": [],
        "candidateId": None,
    }
    assert mallory.get("/api/v1/beneficiaries/me").status_code == 403
    assert mallory.put("/api/v1/consent", json={"decision": "give"}).status_code == 403


def test_a_namesake_is_not_linked_but_the_candidate_is(stack, base):
    victim = _person("Tariq Osei")
    namesake = login(base, enroll(stack, victim["name"]), OTP)
    assert _roles(namesake)["roles"] == [] and _roles(namesake)["candidateId"] is None
    resident = login(base, victim["vid"], OTP)
    mine = _roles(resident)
    assert mine["roles"] == ["beneficiary"] and mine["candidateId"]
    assert resident.get("/api/v1/beneficiaries/me").json()["candidate"]["name"] == victim["name"]


def test_the_seeded_officers_and_administrator_are_bound_at_their_first_login(admin, officer):
    assert _roles(admin)["roles"] == ["administrator"]
    assert _roles(officer)["roles"] == ["enrollment_officer"]
    rows = admin.get(ADMIN_API).json()["roleAssignments"]
    seeded = {(r["vid"], r["role"]): r["status"] for r in rows}
    assert seeded[(ADMIN["vid"], "administrator")] == "active"
    assert seeded[(ENROLLMENT_OFFICER_VID, "enrollment_officer")] == "active"
    assert all("sub" not in r for r in rows)  # the pairwise subject stays inside


def test_the_administrator_grants_a_role_by_vid_it_binds_at_first_login_and_revoking_takes_it_away(stack, base, admin):
    tariq = _person("Tariq Rahman")  # a utilities officer elsewhere; nobody in this programme
    namesake = enroll(stack, tariq["name"])
    assert _roles(login(base, namesake, OTP))["roles"] == []  # before the grant
    granted = admin.post(ADMIN_API, json={"vid": tariq["vid"], "name": tariq["name"], "role": "payment_officer"})
    assert granted.status_code == 201, granted.text
    assignment = granted.json()["roleAssignment"]
    assert assignment["status"] == "pending" and assignment["grantedBy"] == ADMIN["name"]
    again = admin.post(ADMIN_API, json={"vid": tariq["vid"], "name": tariq["name"], "role": "payment_officer"})
    assert again.status_code == 201 and again.json()["roleAssignment"]["id"] == assignment["id"]  # idempotent

    assert _roles(login(base, namesake, OTP))["roles"] == []  # the same name, another person
    payer = login(base, tariq["vid"], OTP)
    assert _roles(payer)["roles"] == ["payment_officer"]
    assert payer.get("/api/v1/payment/payment-orders").status_code == 200
    rows = {r["id"]: r for r in admin.get(ADMIN_API).json()["roleAssignments"]}
    assert rows[assignment["id"]]["status"] == "active"

    revoked = admin.delete(f"{ADMIN_API}/{assignment['id']}")
    assert revoked.status_code == 200 and revoked.json()["roleAssignment"]["status"] == "revoked"
    assert _roles(payer)["roles"] == []  # at once, in the open session too
    assert payer.get("/api/v1/payment/payment-orders").status_code == 403


def test_a_grant_needs_a_vid_and_name_that_identity_confirms_and_a_known_role(admin):
    tariq = _person("Tariq Rahman")
    for body, status in (
        ({"vid": tariq["vid"], "name": "Someone Else", "role": "payment_officer"}, 400),
        ({"vid": "2222222222", "name": tariq["name"], "role": "payment_officer"}, 400),
        ({"vid": tariq["vid"], "name": tariq["name"], "role": "beneficiary"}, 400),
        ({"vid": "12ab", "name": tariq["name"], "role": "payment_officer"}, 400),
        ({"vid": tariq["vid"], "role": "payment_officer"}, 400),
    ):
        answer = admin.post(ADMIN_API, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]
    assert admin.delete(f"{ADMIN_API}/999999").status_code == 404


def test_the_last_administrator_cannot_be_revoked(admin):
    rows = admin.get(ADMIN_API).json()["roleAssignments"]
    mine = next(r for r in rows if r["role"] == "administrator" and r["status"] != "revoked")
    refused = admin.delete(f"{ADMIN_API}/{mine['id']}")
    assert refused.status_code == 409
    assert _roles(admin)["roles"] == ["administrator"]


def test_only_administrators_reach_the_admin_page_and_api(base, officer):
    anonymous = httpx.Client(base_url=base, follow_redirects=False)
    assert anonymous.get(ADMIN_API).status_code == 401
    assert anonymous.get("/admin").headers["location"].startswith("/login")
    assert officer.get(ADMIN_API).status_code == 403
    grant = {"vid": ENROLLMENT_OFFICER_VID, "name": "Kofi Mensah", "role": "payment_officer"}
    assert officer.post(ADMIN_API, json=grant).status_code == 403
    assert officer.delete(f"{ADMIN_API}/1").status_code == 403
    page = officer.get("/admin", follow_redirects=False)
    assert page.status_code == 303 and "administrator" in page.headers["location"]
    token = officer.get("/auth/csrf").json()["csrfToken"]
    assert officer.post("/admin/roles", data=grant | {"csrf_token": token}).status_code == 403
    assert _roles(officer)["roles"] == ["enrollment_officer"]


def test_the_admin_page_grants_and_revokes_with_csrf_tokens(base, admin):
    jonas = _person("Jonas Tamm")
    hardening.assert_forms_need_the_token(
        admin, "/admin", "/admin/roles", {"vid": jonas["vid"], "name": jonas["name"], "role": "enrollment_officer"}
    )
    page = admin.get("/admin")
    assert page.status_code == 200 and ADMIN["vid"] in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"vid": jonas["vid"], "name": jonas["name"], "role": "enrollment_officer", "csrf_token": token}
    added = admin.post("/admin/roles", data=form)
    assert added.status_code == 303 and "error" not in added.headers["location"]
    row = next(r for r in admin.get(ADMIN_API).json()["roleAssignments"] if r["vid"] == jonas["vid"])
    assert row["status"] == "pending" and f"/admin/roles/{row['id']}/revoke" in admin.get("/admin").text
    assert admin.post(f"/admin/roles/{row['id']}/revoke", data={"csrf_token": token}).status_code == 303
    assert login(base, jonas["vid"], OTP).get("/api/v1/roles").json()["roles"] == []


def test_cross_origin_admin_api_calls_need_the_csrf_token(admin):
    hardening.assert_cross_origin_api_calls_need_the_token(admin, ADMIN_API, {"vid": "", "name": "", "role": ""})


def test_the_welcome_page_names_the_administrator(base):
    page = httpx.get(base + "/")
    assert ADMIN["vid"] in page.text and "administrator" in page.text
