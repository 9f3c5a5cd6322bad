"""Roles and links by stable identifiers (issue 17, finding 2): officers come from role assignments bound to
the pairwise `sub` the Identity BB gives this use case; parties are linked to a login by `subject_matches` on
their VID; the administrator manages the assignments. E-mail never grants or links anything."""

from __future__ import annotations

import httpx
import pytest

from sandbox.demo_construction_permit import COOKIE
from sandbox.demo_http import login, ok
from services.common import demo_world
from tests.usecases import hardening
from tests.usecases.residents import change_email, enroll, unique_email

pytestmark = pytest.mark.e2e
OTP = demo_world.sandbox_otp()
ADMIN = demo_world.with_role("administrator")[0]
PETER = demo_world.with_role("permit_officer")[0]
MAYA = demo_world.with_role("architect")[1]
JONAS = demo_world.with_role("contractor")[0]
GRACE = demo_world.with_role("property_owner")[0]  # owns parcel SBX-0101-0042
ADMIN_API = "/api/v1/admin/role-assignments"


def _login(stack, vid: str) -> httpx.Client:
    return login(stack.url("construction_permit"), vid, OTP, COOKIE)


def _plan(owner: dict, architect: dict) -> dict:
    return {
        "parcelId": "SBX-0101-0042",
        "buildingType": "single_family_house",
        "floorAreaM2": 150,
        "owner": {"vid": owner["vid"], "name": owner["name"]},
        "architect": {"vid": architect["vid"], "name": architect["name"]},
        "contractor": {"vid": JONAS["vid"], "name": JONAS["name"]},
    }


def _applications(client: httpx.Client) -> set[str]:
    return {a["id"] for a in ok(client.get("/api/v1/applications"))["applications"]}


@pytest.fixture(scope="module")
def admin(stack):
    return _login(stack, ADMIN["vid"])


def test_taking_the_permit_officers_email_address_grants_no_role(stack):
    change_email(stack, PETER["vid"], unique_email("peter"))
    mallory = _login(stack, enroll(stack, "Mallory Vance", email=PETER["email"]))
    assert ok(mallory.get("/api/v1/roles"))["roles"] == []
    assert _applications(mallory) == set()  # officers see every application; she sees none
    assert ok(_login(stack, PETER["vid"]).get("/api/v1/roles"))["roles"] == ["permit_officer"]


def test_a_party_is_linked_by_subject_not_by_email(stack):
    """The owner's namesake logs in, then takes over the owner's e-mail address: she is not the owner."""
    app_id = ok(_login(stack, MAYA["vid"]).post("/api/v1/applications", json=_plan(GRACE, MAYA)), 201)["application"][
        "id"
    ]
    first_address = unique_email("mallory")
    mallory_vid = enroll(stack, GRACE["name"], email=first_address)
    mallory = _login(stack, mallory_vid)  # her session was opened with this address
    change_email(stack, mallory_vid, unique_email("mallory"))
    change_email(stack, GRACE["vid"], first_address)
    assert app_id not in _applications(mallory)
    assert mallory.put(f"/api/v1/applications/{app_id}/consent", json={"decision": "give"}).status_code == 403
    grace = _login(stack, GRACE["vid"])
    assert app_id in _applications(grace)
    assert "owner" in ok(grace.get(f"/api/v1/applications/{app_id}"))["application"]["yourRoles"]


def test_only_the_architect_herself_may_apply_as_the_architect(stack):
    first_address = unique_email("mallory")
    mallory_vid = enroll(stack, MAYA["name"], email=first_address)
    mallory = _login(stack, mallory_vid)
    change_email(stack, mallory_vid, unique_email("mallory"))
    change_email(stack, MAYA["vid"], first_address)
    refused = mallory.post("/api/v1/applications", json=_plan(GRACE, MAYA))
    assert refused.status_code == 422 and "applicant must be" in refused.json()["message"]


def test_the_administrator_grants_an_officer_role_that_binds_at_first_login_and_revokes_it(stack, admin):
    assert ok(admin.get("/api/v1/roles"))["roles"] == ["administrator"]
    assert _applications(admin) == set()  # administering roles is not reading applications
    name = "Nadia Officer"
    vid = enroll(stack, name)
    granted = admin.post(ADMIN_API, json={"vid": vid, "name": name, "role": "permit_officer"})
    assert granted.status_code == 201, granted.text
    assignment = granted.json()["roleAssignment"]
    assert assignment["status"] == "pending"
    officer = _login(stack, vid)
    assert ok(officer.get("/api/v1/roles"))["roles"] == ["permit_officer"]
    assert _applications(officer) == _applications(_login(stack, PETER["vid"]))
    rows = {r["id"]: r for r in ok(admin.get(ADMIN_API))["roleAssignments"]}
    assert rows[assignment["id"]]["status"] == "active"
    assert rows[assignment["id"]]["vid"] == vid
    assert ok(admin.delete(f"{ADMIN_API}/{assignment['id']}"))["roleAssignment"]["status"] == "revoked"
    assert ok(officer.get("/api/v1/roles"))["roles"] == []
    assert _applications(officer) == set()


def test_a_grant_needs_a_vid_and_name_that_identity_confirms(admin):
    wrong_name = admin.post(ADMIN_API, json={"vid": JONAS["vid"], "name": "Not Jonas", "role": "mayor"})
    assert wrong_name.status_code == 422 and wrong_name.json()["error"] == "identity_not_confirmed"
    unknown_role = admin.post(ADMIN_API, json={"vid": JONAS["vid"], "name": JONAS["name"], "role": "applicant"})
    assert unknown_role.status_code == 422
    assert "mayor" not in {r["role"] for r in ok(admin.get(ADMIN_API))["roleAssignments"] if r["vid"] == JONAS["vid"]}


def test_only_administrators_reach_the_admin_page_and_api(stack):
    base = stack.url("construction_permit")
    anonymous = httpx.Client(base_url=base, follow_redirects=False)
    assert anonymous.get(ADMIN_API).status_code == 401
    assert anonymous.get("/admin").headers["location"].startswith("/login")
    mayor = _login(stack, demo_world.with_role("mayor")[0]["vid"])
    assert mayor.get(ADMIN_API).status_code == 403
    grant = {"vid": JONAS["vid"], "name": JONAS["name"], "role": "mayor"}
    assert mayor.post(ADMIN_API, json=grant).status_code == 403
    assert mayor.get("/admin", follow_redirects=False).status_code == 303
    token = mayor.get("/auth/csrf").json()["csrfToken"]
    assert mayor.post("/admin/roles", data=grant | {"csrf_token": token}).status_code == 403


def test_the_admin_page_needs_csrf_tokens_and_names_the_seeded_assignments(admin):
    page = admin.get("/admin")
    assert page.status_code == 200 and PETER["vid"] in page.text and "permit_officer" in page.text
    hardening.assert_forms_need_the_token(
        admin, "/admin", "/admin/roles", {"vid": JONAS["vid"], "name": JONAS["name"], "role": "mayor"}
    )
    hardening.assert_cross_origin_api_calls_need_the_token(admin, ADMIN_API, {"vid": "", "name": "", "role": ""})


def test_the_welcome_page_names_the_administrator(stack):
    page = httpx.get(stack.url("construction_permit") + "/")
    assert ADMIN["vid"] in page.text and "administrator" in page.text
