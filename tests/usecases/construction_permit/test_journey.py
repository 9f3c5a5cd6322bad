"""The permit journey against the real processes: the demo command end to end, the owner-applicant path paid
by request-to-pay, and the refusals (bad input changes nothing, wrong role, wrong state, unknown bill)."""

from __future__ import annotations

import re

import httpx
import pytest
from click.testing import CliRunner

from sandbox.demo_construction_permit import COOKIE, construction_permit
from sandbox.demo_http import login, ok, wait
from services.common import demo_world

pytestmark = pytest.mark.e2e
ELIAS = demo_world.with_role("architect")[0]  # owns parcel SBX-0301-0009
MAYA = demo_world.with_role("architect")[1]
JONAS = demo_world.with_role("contractor")[0]
GRACE = demo_world.with_role("property_owner")[0]  # owns parcel SBX-0101-0042
PDF = b"%PDF-1.4\n% test document\n%%EOF\n"


def _login(stack, person: dict) -> httpx.Client:
    return login(stack.url("construction_permit"), person["vid"], demo_world.sandbox_otp(), COOKIE)


def _person(role: str) -> dict:
    return demo_world.with_role(role)[0]


def _plan(parcel: str, owner: dict, architect: dict, building: str = "single_family_house", area: float = 160) -> dict:
    return {
        "parcelId": parcel,
        "buildingType": building,
        "floorAreaM2": area,
        "owner": {"vid": owner["vid"], "name": owner["name"]},
        "architect": {"vid": architect["vid"], "name": architect["name"]},
        "contractor": {"vid": JONAS["vid"], "name": JONAS["name"]},
    }


def _upload_all(client: httpx.Client, app_id: str) -> None:
    for kind in ("site_plan", "detailed_plans", "cost_estimate", "property_title"):
        ok(
            client.post(
                f"/api/v1/applications/{app_id}/documents",
                data={"kind": kind},
                files={"file": (f"{kind}.pdf", PDF + kind.encode(), "application/pdf")},
            ),
            201,
        )


def _count(client: httpx.Client) -> int:
    return len(ok(client.get("/api/v1/applications"))["applications"])


def test_demo_command_runs_the_whole_journey(stack):
    result = CliRunner().invoke(
        construction_permit,
        ["--url", stack.url("construction_permit"), "--payments-url", stack.url("payments"), "--timeout", "60"],
    )
    assert result.exit_code == 0, result.output
    assert "issued" in result.output and "valid / invalid" in result.output


def test_demo_command_fails_without_a_running_sandbox(tmp_path):
    assert CliRunner().invoke(construction_permit, ["--data-dir", str(tmp_path)]).exit_code != 0


def test_an_owner_applicant_needs_no_consent_and_pays_by_request_to_pay(stack):
    elias = _login(stack, ELIAS)
    body = ok(
        elias.post(
            "/api/v1/applications",
            json=_plan("SBX-0301-0009", ELIAS, ELIAS),
            headers={"Idempotency-Key": "elias-house-1"},
        ),
        201,
    )
    application = body["application"]
    app_id = application["id"]
    assert application["consentStatus"] == "not_needed" and {"applicant", "owner", "architect"} <= set(
        application["yourRoles"]
    )
    retried = ok(
        elias.post(
            "/api/v1/applications",
            json=_plan("SBX-0301-0009", ELIAS, ELIAS),
            headers={"Idempotency-Key": "elias-house-1"},
        ),
        201,
    )
    assert retried["application"]["id"] == app_id  # a retried start creates nothing new

    _upload_all(elias, app_id)
    same = ok(
        elias.post(
            f"/api/v1/applications/{app_id}/documents",
            data={"kind": "site_plan"},
            files={"file": ("again.pdf", PDF + b"site_plan", "application/pdf")},
        ),
        201,
    )
    assert len(same["application"]["documents"]) == 4  # the same file again is the same document
    ok(elias.post(f"/api/v1/applications/{app_id}/actions/submit"))

    officer = _login(stack, _person("permit_officer"))
    utilities = _login(stack, _person("utilities_officer"))
    early = utilities.post(f"/api/v1/applications/{app_id}/actions/grant_clearance")
    assert early.status_code == 409 and early.json()["error"] == "invalid_state"
    approved = ok(officer.post(f"/api/v1/applications/{app_id}/actions/approve_in_principle", json={}))
    fee, bill_id = approved["application"]["fee"], approved["application"]["billId"]
    assert fee == 150 + 240 and bill_id.startswith("MSC-")  # base 150 + 1.5 USD x 160 m²

    sent = ok(elias.post(f"/api/v1/applications/{app_id}/request-to-pay"))
    assert sent["messageId"]
    bank = httpx.Client(base_url=stack.url("payments"), timeout=30, follow_redirects=True)
    page = bank.get("/bank/").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    home = bank.post("/bank/login", data={"csrf": csrf, "login": ELIAS["phone_number"], "pin": "2468"}).text
    rtp = re.search(r'action="/bank/rtp/(\d+)"[^<]*<input type="hidden" name="csrf" value="([^"]+)"', home)
    assert rtp and bill_id in home, home[:2000]
    bank.post(f"/bank/rtp/{rtp.group(1)}", data={"csrf": rtp.group(2), "decision": "accept"})

    def state() -> str | None:
        current = ok(elias.get(f"/api/v1/applications/{app_id}"))["application"]["state"]
        return current if current != "awaiting_payment" else None

    assert wait("mark-bill-paid", state, 60) == "in_clearance"
    cleared = ok(utilities.post(f"/api/v1/applications/{app_id}/actions/grant_clearance", json={}))
    assert cleared["application"]["state"] == "awaiting_signature"  # a house needs utilities only
    signed = ok(_login(stack, _person("mayor")).post(f"/api/v1/applications/{app_id}/actions/sign"))
    permit = signed["application"]["permit"]
    public = httpx.Client(base_url=stack.url("construction_permit"), timeout=20)
    verified = ok(
        public.get(f"/api/v1/permits/{permit['number']}", params={"code": permit["verificationCode"].lower()})
    )
    assert (
        verified["valid"]
        and verified["permit"]["owner_name"] == ELIAS["name"]
        and verified["permit"]["fee_paid"] == fee
    )
    page = public.get("/verify", params={"permit": permit["number"], "code": permit["verificationCode"]}).text
    assert "Authentic permit" in page
    forged = public.get("/verify", params={"permit": permit["number"], "code": "AAAA-AAAA-AAAA-AAAA"}).text
    assert "Not a valid permit" in forged
    pdf = elias.get(permit["pdf"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    jwks = public.get("/.well-known/jwks.json").json()
    assert jwks["keys"][0]["crv"] == "Ed25519" and "d" not in jwks["keys"][0]


def test_bad_input_is_refused_and_changes_nothing(stack):
    maya = _login(stack, MAYA)
    before = _count(maya)
    cases = [
        ({"parcelId": "SBX-9999-0000"}, "land registry"),
        ({"buildingType": "industrial_building"}, "not allowed"),  # residential parcel
        ({"floorAreaM2": -5}, "floorAreaM2"),
        ({"owner": {"vid": ELIAS["vid"], "name": ELIAS["name"]}}, "another owner"),
        ({"contractor": {"vid": JONAS["vid"], "name": "Not Jonas"}}, "contractor"),
        ({"architect": {"vid": "12", "name": "x"}}, "architect.vid"),
    ]
    for change, message in cases:
        refused = maya.post("/api/v1/applications", json=_plan("SBX-0101-0042", GRACE, MAYA) | change)
        assert refused.status_code == 422 and message in refused.json()["message"], (change, refused.text)
    stranger = maya.post("/api/v1/applications", json=_plan("SBX-0101-0042", GRACE, ELIAS))
    assert stranger.status_code == 422 and "applicant must be" in stranger.json()["message"]
    assert maya.post(
        "/api/v1/applications", content=b"not json", headers={"content-type": "application/json"}
    ).status_code in (400, 422)
    assert _count(maya) == before
    anonymous = httpx.get(stack.url("construction_permit") + "/api/v1/applications")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"


def test_roles_states_and_documents_are_enforced(stack):
    maya = _login(stack, MAYA)
    app_id = ok(maya.post("/api/v1/applications", json=_plan("SBX-0101-0042", GRACE, MAYA)), 201)["application"]["id"]
    big = maya.post(
        f"/api/v1/applications/{app_id}/documents",
        data={"kind": "site_plan"},
        files={"file": ("big.pdf", PDF + b"0" * (5 * 1024 * 1024), "application/pdf")},
    )
    assert big.status_code == 413
    fake = maya.post(
        f"/api/v1/applications/{app_id}/documents",
        data={"kind": "site_plan"},
        files={"file": ("fake.pdf", b"MZ executable", "application/pdf")},
    )
    assert fake.status_code == 415
    _upload_all(maya, app_id)
    no_consent = maya.post(f"/api/v1/applications/{app_id}/actions/submit")
    assert no_consent.status_code == 422 and "consent" in no_consent.json()["message"]

    jonas = _login(stack, JONAS)  # the contractor sees the application but decides nothing
    assert ok(jonas.get(f"/api/v1/applications/{app_id}"))["application"]["yourRoles"] == ["contractor"]
    assert jonas.put(f"/api/v1/applications/{app_id}/consent", json={"decision": "give"}).status_code == 403
    elias = _login(stack, ELIAS)
    assert elias.get(f"/api/v1/applications/{app_id}").status_code == 403  # not on this application

    grace = _login(stack, GRACE)
    assert app_id in [a["id"] for a in ok(grace.get("/api/v1/applications"))["applications"]]
    refused = ok(grace.put(f"/api/v1/applications/{app_id}/consent", json={"decision": "refuse"}))
    assert refused["application"]["consentStatus"] == "refused"
    assert maya.post(f"/api/v1/applications/{app_id}/actions/submit").status_code == 422
    given = ok(grace.put(f"/api/v1/applications/{app_id}/consent", json={"decision": "give"}))
    assert given["application"]["consentStatus"] == "given"
    ok(maya.post(f"/api/v1/applications/{app_id}/actions/submit"))
    assert maya.post(f"/api/v1/applications/{app_id}/actions/submit").status_code == 409  # already submitted
    officer = _login(stack, _person("permit_officer"))
    assert officer.post(f"/api/v1/applications/{app_id}/actions/confirm_payment").status_code == 404  # system only
    assert officer.post(f"/api/v1/applications/{app_id}/actions/reject", json={}).status_code == 422  # reason needed
    assert (
        officer.post(
            f"/api/v1/applications/{app_id}/actions/propose_visit", json={"slots": ["2001-01-01T10:00"]}
        ).status_code
        == 422
    )  # in the past
    rejected = ok(officer.post(f"/api/v1/applications/{app_id}/actions/reject", json={"note": "Too high"}))
    assert rejected["application"]["state"] == "rejected"
    assert ok(maya.get("/api/v1/applications"))["applications"][0]["actions"] == []

    def told() -> bool:
        return any("refused: Too high" in n["text"] for n in ok(grace.get("/api/v1/notifications"))["notifications"])

    assert wait("the refusal's notification through the IM room", told, 30)
